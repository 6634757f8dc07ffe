// The workflows MCP server: a `deploy_template` tool that runs the deployment workflow, as an MCP task
// (2025-11-25 task-augmented tools/call) or, for clients without tasks, synchronously with progress.

import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  type CallToolResult,
  type CreateTaskResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type ServerNotification,
  type Task,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import * as z from "zod";
import type { DeployTemplateInput } from "./deploy-types.ts";
import type { TemporalTaskStore } from "./temporal-task-store.ts";

export const TOOL_NAME = "deploy_template";
const RELATED_TASK = "io.modelcontextprotocol/related-task";
/** Names the Temporal workflow behind a task or result; the gateway's audit record picks it up. */
export const WORKFLOW_ID_META = "mcp-edge/workflow-id";
const TERMINAL = new Set<Task["status"]>(["completed", "failed", "cancelled"]);

const Name = z.string().min(1).max(256);
export const DeployArguments = z.strictObject({
  idempotencyKey: z
    .string()
    .min(8)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/)
    .describe(
      "Caller-chosen key of this deployment (8-128 of A-Z a-z 0-9 . _ : -). The same key never deploys twice: a retry returns the same task.",
    ),
  templateId: Name.describe("Catalyst Center template id"),
  targets: z.array(Name).min(1).max(100).describe("Devices: managed device UUIDs, host names or management IP addresses"),
  params: z.record(z.string().max(128), z.string().max(4096)).default({}).describe("Template variables"),
  shortDescription: z.string().max(160).optional().describe("Short description of the ServiceNow change"),
  assignmentGroup: z.string().max(128).optional().describe("ServiceNow assignment group of the change"),
});

const DeviceOutcomeSchema = z.object({
  deviceId: z.string(),
  name: z.string().optional(),
  status: z.string(),
  detail: z.string().optional(),
});
export const DeployOutput = z.object({
  outcome: z.enum(["succeeded", "failed", "cancelled", "running"]),
  message: z.string(),
  templateId: z.string(),
  templateName: z.string().optional(),
  changeNumber: z.string().optional(),
  changeSysId: z.string().optional(),
  deploymentId: z.string().optional(),
  deploymentStatus: z.string().optional(),
  workflowId: z.string().optional(),
  devices: z.array(DeviceOutcomeSchema),
});

export interface DeployToolOptions {
  store: TemporalTaskStore;
  /** How long a call without task augmentation waits for the deployment before answering "still running" (ms). */
  syncTimeoutMs?: number;
  /** How often a running task is looked at for progress and status notifications (ms). */
  watchIntervalMs?: number;
  /** Running tasks watched per session for notifications (bounded memory per client). */
  maxWatchedPerSession?: number;
}

export const deployTool: Tool = {
  name: TOOL_NAME,
  title: "Deploy a configuration template",
  description:
    "Deploys a Catalyst Center template to devices under a ServiceNow change: validates the template and devices, opens the change, deploys, follows the deployment and closes the change with the outcome (never left open). Long-running: call it as a task (tasks/get, tasks/result, tasks/cancel) or wait with progress.",
  inputSchema: z.toJSONSchema(DeployArguments, { io: "input" }) as Tool["inputSchema"],
  outputSchema: z.toJSONSchema(DeployOutput) as Tool["outputSchema"],
  annotations: {
    title: "Deploy a configuration template",
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: true,
  },
  execution: { taskSupport: "optional" },
};

function inputOf(a: z.infer<typeof DeployArguments>, requestedBy: string | undefined): DeployTemplateInput {
  return {
    templateId: a.templateId,
    targets: a.targets,
    params: a.params,
    ...(a.shortDescription ? { shortDescription: a.shortDescription } : {}),
    ...(a.assignmentGroup ? { assignmentGroup: a.assignmentGroup } : {}),
    ...(requestedBy ? { requestedBy } : {}),
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/** One MCP server (one per session): tools/list, tools/call, and tasks/* answered from the Temporal store. */
export function createWorkflowsServer(opts: DeployToolOptions): Server {
  const { store } = opts;
  const syncTimeout = opts.syncTimeoutMs ?? 10 * 60_000;
  const watchEvery = opts.watchIntervalMs ?? 1000;
  const maxWatched = opts.maxWatchedPerSession ?? 32;
  const server = new Server(
    { name: "mcp-edge-workflows", version: "0.1.0" },
    {
      capabilities: { tools: {}, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
      taskStore: store,
      instructions: "deploy_template runs as a Temporal workflow; prefer calling it as a task.",
    },
  );
  const watching = new Set<string>();
  let closed = false;
  const stop = new AbortController();
  server.onclose = () => {
    closed = true;
    stop.abort();
  };

  const progressOf = async (taskId: string) => {
    const p = await store.progress(taskId);
    if (!p) return undefined;
    const percent = p.phase === "polling" && p.polls !== undefined ? Math.min(85, 20 + p.polls * 5) : p.percent;
    return { percent, message: p.message };
  };

  /** After CreateTaskResult: notifications/tasks/status on each change, progress on the original token. */
  const watch = (task: Task, progressToken: string | number | undefined) => {
    if (watching.has(task.taskId) || watching.size >= maxWatched) return;
    watching.add(task.taskId);
    void (async () => {
      let last = `${task.status}|${task.statusMessage ?? ""}`;
      let lastPercent = -1;
      try {
        while (!closed) {
          await sleep(watchEvery, stop.signal);
          if (closed) break;
          const t = await store.getTask(task.taskId).catch(() => null);
          if (!t) break;
          const key = `${t.status}|${t.statusMessage ?? ""}`;
          if (progressToken !== undefined && !TERMINAL.has(t.status)) {
            const p = await progressOf(t.taskId);
            if (p && p.percent > lastPercent) {
              lastPercent = p.percent;
              await server.notification({
                method: "notifications/progress",
                params: {
                  progressToken,
                  progress: p.percent,
                  total: 100,
                  message: p.message,
                  _meta: { [RELATED_TASK]: { taskId: t.taskId } },
                },
              } as ServerNotification);
            }
          }
          if (key !== last) {
            last = key;
            await server.notification({ method: "notifications/tasks/status", params: t } as ServerNotification);
          }
          if (TERMINAL.has(t.status)) break;
        }
      } catch {
        // The session went away: nothing to notify any more.
      } finally {
        watching.delete(task.taskId);
      }
    })();
  };

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [deployTool] }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult | CreateTaskResult> => {
    if (request.params.name !== TOOL_NAME) throw new McpError(ErrorCode.InvalidParams, `Tool ${request.params.name} not found`);
    const parsed = DeployArguments.safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      // Bad arguments are a tool error the model can correct (SEP-1303), not a protocol error.
      return { isError: true, content: [{ type: "text", text: `invalid arguments: ${z.prettifyError(parsed.error)}` }] };
    }
    const a = parsed.data;
    const clientName = server.getClientVersion()?.name;
    const taskParams = request.params.task;
    const tp = request.params._meta?.traceparent;
    let task: Task;
    try {
      task = await store.start({
        idempotencyKey: a.idempotencyKey,
        input: inputOf(a, clientName),
        ttlMs: taskParams?.ttl,
        traceparent: typeof tp === "string" && tp.length <= 64 ? tp : undefined,
      });
    } catch (e) {
      // A key reused with other arguments is the caller's to fix: a tool error, like bad arguments.
      if (e instanceof McpError && e.code === ErrorCode.InvalidParams)
        return { isError: true, content: [{ type: "text", text: e.message }] };
      throw e;
    }
    const progressToken = request.params._meta?.progressToken;

    if (taskParams) {
      watch(task, progressToken);
      return {
        task,
        _meta: {
          [WORKFLOW_ID_META]: task.taskId,
          "io.modelcontextprotocol/model-immediate-response": `Deployment started as task ${task.taskId}; it opens and closes a ServiceNow change and may take minutes.`,
        },
      };
    }

    // No task support: wait here, reporting progress on the request's own stream, up to the timeout.
    const deadline = Date.now() + syncTimeout;
    let lastPercent = -1;
    let t: Task | null = task;
    while (t && !TERMINAL.has(t.status) && Date.now() < deadline && !extra.signal.aborted) {
      if (progressToken !== undefined) {
        const p = await progressOf(task.taskId);
        if (p && p.percent > lastPercent) {
          lastPercent = p.percent;
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress: p.percent, total: 100, message: p.message },
          });
        }
      }
      await sleep(watchEvery, extra.signal);
      t = await store.getTask(task.taskId);
    }
    if (extra.signal.aborted) {
      // The caller cancelled its request: that is a cancellation of the deployment it started.
      await store.updateTaskStatus(task.taskId, "cancelled").catch(() => {});
      throw new McpError(ErrorCode.InvalidRequest, "cancelled");
    }
    if (t && TERMINAL.has(t.status)) {
      const r = await store.getTaskResult(task.taskId);
      return { ...r, structuredContent: { ...r.structuredContent, workflowId: task.taskId }, _meta: { [WORKFLOW_ID_META]: task.taskId } };
    }
    const running = {
      outcome: "running",
      message: `still running after ${Math.round(syncTimeout / 1000)} s; call deploy_template again with the same idempotencyKey to keep waiting`,
      templateId: a.templateId,
      workflowId: task.taskId,
      devices: [],
    };
    return { content: [{ type: "text", text: running.message }], structuredContent: running, _meta: { [WORKFLOW_ID_META]: task.taskId } };
  });

  return server;
}
