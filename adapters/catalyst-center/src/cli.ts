#!/usr/bin/env node
// mcp-catalyst-center: run the Catalyst Center adapter over stdio or Streamable HTTP.
// Usage: mcp-catalyst-center --stdio | --http [--host 127.0.0.1] [--port 8080]   (server: CATALYST_CENTER_URL)

import { runHostCli } from "@mcp-edge/adapter-kit";
import { authFromEnv, serveHttp, serveStdio } from "./host.ts";

await runHostCli({
  name: "mcp-catalyst-center",
  urlFlag: "url",
  urlEnv: "CATALYST_CENTER_URL",
  urlWhat: "the Catalyst Center URL",
  common: (baseUrl, timeoutMs) => ({ baseUrl, fallbackAuth: authFromEnv(process.env), ...(timeoutMs ? { timeoutMs } : {}) }),
  serveStdio,
  serveHttp,
});
