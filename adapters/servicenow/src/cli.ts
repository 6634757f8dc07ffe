#!/usr/bin/env node
// mcp-servicenow: run the ServiceNow adapter over stdio or Streamable HTTP.
// Usage: mcp-servicenow --stdio | --http [--host 127.0.0.1] [--port 8080]   (instance: SERVICENOW_INSTANCE_URL)

import { runHostCli } from "@mcp-edge/adapter-kit";
import { authFromEnv, serveHttp, serveStdio } from "./host.ts";

await runHostCli({
  name: "mcp-servicenow",
  urlFlag: "instance",
  urlEnv: "SERVICENOW_INSTANCE_URL",
  urlWhat: "the instance URL",
  common: (instanceUrl, timeoutMs) => ({ instanceUrl, fallbackAuth: authFromEnv(process.env), ...(timeoutMs ? { timeoutMs } : {}) }),
  serveStdio,
  serveHttp,
});
