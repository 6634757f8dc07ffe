#!/usr/bin/env node
// mcp-servicenow: run the ServiceNow adapter over stdio or Streamable HTTP.
// Usage: mcp-servicenow --stdio | --http [--host 127.0.0.1] [--port 8080]   (instance: SERVICENOW_INSTANCE_URL)

import { parseArgs } from "node:util";
import { authFromEnv, serveHttp, serveStdio } from "./host.ts";

const { values } = parseArgs({
  options: {
    stdio: { type: "boolean", default: false },
    http: { type: "boolean", default: false },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: process.env.PORT ?? "8080" },
    instance: { type: "string" },
    "timeout-ms": { type: "string" },
  },
});

const instanceUrl = values.instance ?? process.env.SERVICENOW_INSTANCE_URL;
if (!instanceUrl) {
  process.stderr.write("mcp-servicenow: set SERVICENOW_INSTANCE_URL (or --instance) to the instance URL\n");
  process.exit(2);
}
const timeoutMs = values["timeout-ms"] ? Number(values["timeout-ms"]) : undefined;
const common = { instanceUrl, fallbackAuth: authFromEnv(process.env), ...(timeoutMs ? { timeoutMs } : {}) };

if (values.stdio === values.http) {
  process.stderr.write("mcp-servicenow: choose one of --stdio or --http\n");
  process.exit(2);
}
if (values.stdio) {
  await serveStdio(common);
} else {
  const port = Number(values.port);
  const a = await serveHttp({ ...common, host: values.host, port });
  process.stderr.write(`mcp-servicenow listening on ${a.url}\n`);
  const stop = () => void a.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
