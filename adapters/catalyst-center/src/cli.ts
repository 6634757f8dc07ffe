#!/usr/bin/env node
// mcp-catalyst-center: run the Catalyst Center adapter over stdio or Streamable HTTP.
// Usage: mcp-catalyst-center --stdio | --http [--host 127.0.0.1] [--port 8080]   (server: CATALYST_CENTER_URL)

import { parseArgs } from "node:util";
import { authFromEnv, serveHttp, serveStdio } from "./host.ts";

const { values } = parseArgs({
  options: {
    stdio: { type: "boolean", default: false },
    http: { type: "boolean", default: false },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: process.env.PORT ?? "8080" },
    url: { type: "string" },
    "timeout-ms": { type: "string" },
  },
});

const baseUrl = values.url ?? process.env.CATALYST_CENTER_URL;
if (!baseUrl) {
  process.stderr.write("mcp-catalyst-center: set CATALYST_CENTER_URL (or --url) to the Catalyst Center URL\n");
  process.exit(2);
}
const timeoutMs = values["timeout-ms"] ? Number(values["timeout-ms"]) : undefined;
const common = { baseUrl, fallbackAuth: authFromEnv(process.env), ...(timeoutMs ? { timeoutMs } : {}) };

if (values.stdio === values.http) {
  process.stderr.write("mcp-catalyst-center: choose one of --stdio or --http\n");
  process.exit(2);
}
if (values.stdio) {
  await serveStdio(common);
} else {
  const a = await serveHttp({ ...common, host: values.host, port: Number(values.port) });
  process.stderr.write(`mcp-catalyst-center listening on ${a.url}\n`);
  const stop = () => void a.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
