// What the audit record says about an MCP task: the task id a message names or creates, and the
// workflow id a backend running the task reports under `_meta` (adapters/workflows does), so one audit
// query joins the MCP task, the Temporal workflow and the trace.

import type { JsonObject, RpcMessage } from "../../codec/jsonrpc.ts";
import { createdTaskIdOf, taskIdOf } from "./task-binding.ts";

/** `_meta` key under which a backend names the workflow behind a task or a tool result. */
export const WORKFLOW_ID_META = "mcp-edge/workflow-id";
const RELATED_TASK = "io.modelcontextprotocol/related-task";

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function taskFactsOf(request: RpcMessage, response: RpcMessage | undefined): { taskId?: string; workflowId?: string } | undefined {
  let taskId = taskIdOf(request.raw);
  let workflowId: string | undefined;
  const result = response?.raw.result;
  if (isObject(result)) {
    taskId ??= createdTaskIdOf(response!.raw);
    const meta = result._meta;
    if (isObject(meta)) {
      if (typeof meta[WORKFLOW_ID_META] === "string") workflowId = meta[WORKFLOW_ID_META];
      const related = meta[RELATED_TASK];
      if (isObject(related) && typeof related.taskId === "string") taskId ??= related.taskId;
    }
  }
  if (taskId === undefined && workflowId === undefined) return undefined;
  return { ...(taskId !== undefined ? { taskId } : {}), ...(workflowId !== undefined ? { workflowId } : {}) };
}
