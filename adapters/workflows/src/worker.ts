// The deployment worker: runs the deployTemplate workflow and its activities on the task queue,
// against the ServiceNow and Catalyst Center clients it is given.

import { fileURLToPath } from "node:url";
import { NativeConnection, Worker } from "@temporalio/worker";
import { type ActivityDeps, createDeploymentActivities } from "./deploy-activities.ts";
import { TASK_QUEUE } from "./deploy-types.ts";

export interface WorkerOptions extends ActivityDeps {
  address: string;
  namespace?: string;
  taskQueue?: string;
  /** Time running activities get to finish on shutdown before they are cancelled (default 10 s). */
  shutdownGraceMs?: number;
  identity?: string;
  /**
   * Workflows kept in memory between tasks (sticky execution). 0 sends every workflow task to the shared
   * queue: the Java test server never moves a dead worker's sticky tasks back to it (a real server does).
   */
  maxCachedWorkflows?: number;
}

export const workflowsPath = fileURLToPath(new URL("./deploy-template.workflow.ts", import.meta.url));

export async function createDeploymentWorker(o: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: o.address });
  try {
    const worker = await Worker.create({
      connection,
      namespace: o.namespace ?? "default",
      taskQueue: o.taskQueue ?? TASK_QUEUE,
      workflowsPath,
      activities: createDeploymentActivities(o),
      shutdownGraceTime: o.shutdownGraceMs ?? 10_000,
      // Cancellation reaches an activity with a heartbeat's answer: send them at least every second.
      maxHeartbeatThrottleInterval: "1s",
      ...(o.identity ? { identity: o.identity } : {}),
      ...(o.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: o.maxCachedWorkflows } : {}),
    });
    return { worker, connection };
  } catch (e) {
    await connection.close();
    throw e;
  }
}
