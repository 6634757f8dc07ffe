#!/usr/bin/env node
// The deployment worker process. Connects to Temporal (TEMPORAL_ADDRESS), polls the deployments task
// queue and stops gracefully on SIGTERM/SIGINT: no new work, running activities get the grace time.

import { Runtime } from "@temporalio/worker";
import { clientsFromEnv } from "./clients-from-env.ts";
import { createDeploymentWorker } from "./worker.ts";

const env = process.env;
// The Temporal runtime turns SIGTERM/SIGINT into worker.shutdown(); run() then resolves once drained.
Runtime.install({ shutdownSignals: ["SIGTERM", "SIGINT"] });
const { worker, connection } = await createDeploymentWorker({
  ...clientsFromEnv(env),
  address: env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
  namespace: env.TEMPORAL_NAMESPACE ?? "default",
  ...(env.WORKFLOWS_TASK_QUEUE ? { taskQueue: env.WORKFLOWS_TASK_QUEUE } : {}),
  ...(env.WORKER_SHUTDOWN_GRACE_MS ? { shutdownGraceMs: Number(env.WORKER_SHUTDOWN_GRACE_MS) } : {}),
  ...(env.WORKER_IDENTITY ? { identity: env.WORKER_IDENTITY } : {}),
  ...(env.WORKER_MAX_CACHED_WORKFLOWS ? { maxCachedWorkflows: Number(env.WORKER_MAX_CACHED_WORKFLOWS) } : {}),
});
process.stdout.write(`${JSON.stringify({ msg: "deployment worker running", taskQueue: worker.options.taskQueue })}\n`);
await worker.run();
await connection.close();
process.stdout.write(`${JSON.stringify({ msg: "deployment worker stopped" })}\n`);
