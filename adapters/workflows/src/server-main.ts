#!/usr/bin/env node
// The workflows MCP server process: deploy_template and MCP tasks over Streamable HTTP, backed by
// Temporal. Configuration from the environment (docs/long-running-work.md); stops cleanly on SIGTERM/SIGINT.

import { Client, Connection } from "@temporalio/client";
import { createWorkflowsServer } from "./deploy-tool.ts";
import { serveWorkflowsHttp } from "./serve-http.ts";
import { TemporalTaskStore } from "./temporal-task-store.ts";

const env = process.env;
const address = env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233";
const connection = await Connection.connect({ address });
const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE ?? "default" });
const store = new TemporalTaskStore({ client, ...(env.WORKFLOWS_TASK_QUEUE ? { taskQueue: env.WORKFLOWS_TASK_QUEUE } : {}) });
const syncTimeoutMs = env.WORKFLOWS_SYNC_TIMEOUT_MS ? Number(env.WORKFLOWS_SYNC_TIMEOUT_MS) : undefined;
const http = await serveWorkflowsHttp(() => createWorkflowsServer({ store, ...(syncTimeoutMs ? { syncTimeoutMs } : {}) }), {
  host: env.HOST ?? "127.0.0.1",
  port: Number(env.PORT ?? 3000),
});
process.stdout.write(`${JSON.stringify({ msg: "workflows MCP server listening", url: http.url, temporal: address })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await http.close();
  await connection.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
