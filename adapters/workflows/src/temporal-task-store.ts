// MCP tasks (2025-11-25) backed by Temporal: one task per deployTemplate workflow, the task id being the
// workflow id. Temporal is the source of truth for status and result; this process only caches results.

import { createHash } from "node:crypto";
import type { CreateTaskOptions, TaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/interfaces.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Request,
  type RequestId,
  type Result,
  type Task,
} from "@modelcontextprotocol/sdk/types.js";
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type WorkflowHandle } from "@temporalio/client";
import { ApplicationFailure, CancelledFailure, defaultPayloadConverter, TerminatedFailure, TimeoutFailure } from "@temporalio/common";
import {
  type DeployProgress,
  type DeployTemplateInput,
  type DeployTemplateResult,
  PROGRESS_QUERY,
  TASK_QUEUE,
  WORKFLOW_TYPE,
} from "./deploy-types.ts";

export const WORKFLOW_ID_PREFIX = "deploy-template-";
const DEFAULT_TTL_MS = 24 * 3600_000;
const MAX_TTL_MS = 7 * 24 * 3600_000;

/** The workflow id of an idempotency key: the same key always names the same (single) deployment. */
export function workflowIdFor(idempotencyKey: string): string {
  return WORKFLOW_ID_PREFIX + createHash("sha256").update(idempotencyKey, "utf8").digest("hex").slice(0, 40);
}

/** Canonical digest of the arguments: a key reused with other arguments is refused, not silently joined. */
export function argumentsDigest(input: DeployTemplateInput): string {
  const canon = JSON.stringify({
    templateId: input.templateId,
    targets: [...input.targets],
    params: Object.fromEntries(Object.entries(input.params).sort(([a], [b]) => a.localeCompare(b))),
    shortDescription: input.shortDescription ?? null,
    assignmentGroup: input.assignmentGroup ?? null,
  });
  return createHash("sha256").update(canon).digest("hex");
}

export interface StartRequest {
  idempotencyKey: string;
  input: DeployTemplateInput;
  ttlMs?: number | null | undefined;
  /** W3C traceparent of the call that asked (kept in the workflow's memo: the trace leads to the workflow). */
  traceparent?: string | undefined;
}

export interface TemporalTaskStoreOptions {
  client: Client;
  taskQueue?: string;
  /** Suggested polling interval returned in every task (ms). */
  pollIntervalMs?: number;
  /** Tasks this process has seen, for tasks/list (bounded; oldest forgotten first). */
  maxListed?: number;
  /** Page size of tasks/list. */
  pageSize?: number;
}

function isoOf(d: Date | undefined): string {
  return (d ?? new Date()).toISOString();
}

export class TemporalTaskStore implements TaskStore {
  readonly #client: Client;
  readonly #taskQueue: string;
  readonly #pollInterval: number;
  readonly #maxListed: number;
  readonly #pageSize: number;
  /** taskId → insertion order, for tasks/list; a Map keeps insertion order and deletes are O(1). */
  readonly #known = new Map<string, true>();
  /** Final tool results of closed workflows (they never change). */
  readonly #results = new Map<string, CallToolResult>();

  constructor(opts: TemporalTaskStoreOptions) {
    this.#client = opts.client;
    this.#taskQueue = opts.taskQueue ?? TASK_QUEUE;
    this.#pollInterval = opts.pollIntervalMs ?? 2000;
    this.#maxListed = opts.maxListed ?? 10_000;
    this.#pageSize = opts.pageSize ?? 50;
  }

  #remember(taskId: string): void {
    this.#known.delete(taskId);
    this.#known.set(taskId, true);
    while (this.#known.size > this.#maxListed) {
      const oldest = this.#known.keys().next().value as string;
      this.#known.delete(oldest);
      this.#results.delete(oldest);
    }
  }

  /**
   * Starts the workflow of this idempotency key, or joins the one that already exists (running or
   * closed): a retried request never deploys twice. Refuses a key reused with other arguments.
   */
  async start(req: StartRequest): Promise<Task> {
    const workflowId = workflowIdFor(req.idempotencyKey);
    const digest = argumentsDigest(req.input);
    const ttl = Math.min(Math.max(req.ttlMs ?? DEFAULT_TTL_MS, 1000), MAX_TTL_MS);
    try {
      await this.#client.workflow.start(WORKFLOW_TYPE, {
        workflowId,
        taskQueue: this.#taskQueue,
        args: [req.input],
        memo: { argumentsDigest: digest, ttlMs: ttl, ...(req.traceparent ? { traceparent: req.traceparent } : {}) },
        // A closed run with this id is never started again, a running one is joined.
        workflowIdReusePolicy: "REJECT_DUPLICATE",
        workflowIdConflictPolicy: "USE_EXISTING",
      });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    }
    const d = await this.#client.workflow.getHandle(workflowId).describe();
    if (d.memo?.argumentsDigest !== digest) {
      throw new McpError(ErrorCode.InvalidParams, "idempotencyKey was already used for a deployment with different arguments");
    }
    this.#remember(workflowId);
    return (await this.getTask(workflowId))!;
  }

  #handle(taskId: string): WorkflowHandle | undefined {
    // Only ids this server hands out: anything else is "not found" without asking Temporal.
    if (!taskId.startsWith(WORKFLOW_ID_PREFIX) || !/^[a-z0-9-]{1,80}$/.test(taskId)) return undefined;
    return this.#client.workflow.getHandle(taskId);
  }

  /** The running workflow's progress (query, bounded wait: a query needs a live worker) and poll count. */
  async progress(taskId: string): Promise<(DeployProgress & { polls?: number }) | undefined> {
    const h = this.#handle(taskId);
    if (!h) return undefined;
    let p: (DeployProgress & { polls?: number }) | undefined;
    try {
      p = await this.#client.connection.withDeadline(Date.now() + 1500, () => h.query<DeployProgress>(PROGRESS_QUERY));
    } catch {
      return undefined;
    }
    try {
      const d = await h.describe();
      const payload = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
      if (payload) {
        const hb = defaultPayloadConverter.fromPayload<{ polls?: number }>(payload);
        if (typeof hb?.polls === "number") p = { ...p, polls: hb.polls };
      }
    } catch {
      // Progress without the poll count.
    }
    return p;
  }

  async createTask(_params: CreateTaskOptions, _requestId: RequestId, _request: Request): Promise<Task> {
    // Tasks are created by start() from the deploy_template call, never generically.
    throw new McpError(ErrorCode.InvalidRequest, "tasks are created by calling deploy_template");
  }

  async getTask(taskId: string): Promise<Task | null> {
    const h = this.#handle(taskId);
    if (!h) return null;
    let d: Awaited<ReturnType<WorkflowHandle["describe"]>>;
    try {
      d = await h.describe();
    } catch (e) {
      if ((e as { name?: string }).name === "WorkflowNotFoundError") return null;
      throw e;
    }
    if (d.type !== WORKFLOW_TYPE) return null;
    this.#remember(taskId);
    const ttl = typeof d.memo?.ttlMs === "number" ? d.memo.ttlMs : DEFAULT_TTL_MS;
    const base = {
      taskId,
      createdAt: isoOf(d.startTime),
      lastUpdatedAt: isoOf(d.closeTime ?? d.startTime),
      ttl,
      pollInterval: this.#pollInterval,
    };
    switch (d.status.name) {
      case "RUNNING": {
        const p = await this.progress(taskId);
        return { ...base, status: "working", ...(p ? { statusMessage: p.message } : {}) };
      }
      case "COMPLETED": {
        const r = await this.getTaskResult(taskId);
        return { ...base, status: r.isError ? "failed" : "completed", statusMessage: textOf(r) };
      }
      case "CANCELLED":
        return { ...base, status: "cancelled", statusMessage: "The deployment was cancelled by request; the change records it." };
      default: {
        const r = await this.getTaskResult(taskId);
        return { ...base, status: "failed", statusMessage: textOf(r) };
      }
    }
  }

  /** The tool result the deploy_template call would have returned (blocks until the workflow closes). */
  async getTaskResult(taskId: string): Promise<CallToolResult> {
    const cached = this.#results.get(taskId);
    if (cached) return cached;
    const h = this.#handle(taskId);
    if (!h) throw new McpError(ErrorCode.InvalidParams, "Failed to retrieve task: Task not found");
    let result: CallToolResult;
    try {
      const r = await h.result();
      result = toolResult(r as DeployTemplateResult);
    } catch (e) {
      if (!(e instanceof WorkflowFailedError)) throw e;
      result = failureResult(taskId, e);
    }
    this.#results.set(taskId, result);
    return result;
  }

  async storeTaskResult(_taskId: string, _status: "completed" | "failed", _result: Result): Promise<void> {
    // The workflow's own result is the task's result; nothing else may overwrite it.
    throw new McpError(ErrorCode.InvalidRequest, "a deployment task's result is its workflow's result");
  }

  /**
   * Only `cancelled` comes from outside (tasks/cancel). The workflow is cancelled and awaited (bounded),
   * so the task reads `cancelled` when tasks/cancel answers, as the spec requires.
   */
  async updateTaskStatus(taskId: string, status: Task["status"]): Promise<void> {
    if (status !== "cancelled") throw new McpError(ErrorCode.InvalidRequest, `a deployment task cannot be set to ${status}`);
    const h = this.#handle(taskId);
    if (!h) throw new McpError(ErrorCode.InvalidParams, "Failed to retrieve task: Task not found");
    await h.cancel();
    // The workflow closes the change before it ends; wait for that (it is quick) but never forever.
    await Promise.race([h.result().catch(() => undefined), new Promise((r) => setTimeout(r, 30_000).unref())]);
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const ids = [...this.#known.keys()].reverse();
    let start = 0;
    if (cursor !== undefined) {
      const at = ids.indexOf(cursor);
      if (at < 0) throw new McpError(ErrorCode.InvalidParams, "Invalid cursor");
      start = at;
    }
    const page = ids.slice(start, start + this.#pageSize);
    const tasks = (await Promise.all(page.map((id) => this.getTask(id).catch(() => null)))).filter((t): t is Task => t !== null);
    const next = ids[start + this.#pageSize];
    return next ? { tasks, nextCursor: next } : { tasks };
  }
}

function textOf(r: CallToolResult): string {
  const first = r.content[0];
  return first && first.type === "text" ? first.text : "";
}

export function toolResult(r: DeployTemplateResult): CallToolResult {
  return {
    content: [{ type: "text", text: r.message }],
    structuredContent: r as unknown as Record<string, unknown>,
    isError: r.outcome !== "succeeded",
  };
}

function failureResult(taskId: string, e: WorkflowFailedError): CallToolResult {
  const cause = e.cause;
  if (cause instanceof CancelledFailure) {
    const r: DeployTemplateResult = { outcome: "cancelled", message: "cancelled by request", templateId: "", devices: [] };
    return { content: [{ type: "text", text: r.message }], structuredContent: { ...r, workflowId: taskId }, isError: true };
  }
  let detail: Partial<DeployTemplateResult> = {};
  let message = cause?.message ?? e.message;
  if (cause instanceof ApplicationFailure && Array.isArray(cause.details) && cause.details[0]) {
    detail = cause.details[0] as Partial<DeployTemplateResult>;
  } else if (cause instanceof TerminatedFailure) {
    message = "the workflow was terminated by an operator";
  } else if (cause instanceof TimeoutFailure) {
    message = "the workflow timed out";
  }
  const r = { devices: [], templateId: "", ...detail, outcome: "failed", message, workflowId: taskId };
  return { content: [{ type: "text", text: `deployment failed: ${message}` }], structuredContent: r, isError: true };
}
