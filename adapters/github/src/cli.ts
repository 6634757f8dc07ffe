#!/usr/bin/env node
// mcp-adapter-github: the GitHub adapter as a process. `--stdio` (token from GITHUB_TOKEN) or HTTP
// (`--host`, `--port`; token from the X-GitHub-Token header the gateway injects).

import { parseArgs } from "node:util";
import { createGitHubServer, serveHttp, serveStdio, tokenFromEnv, tokenFromHeader } from "./index.ts";

const { values } = parseArgs({
  options: {
    stdio: { type: "boolean", default: false },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    port: { type: "string", default: process.env.PORT ?? "3000" },
    "api-url": { type: "string", default: process.env.GITHUB_API_URL ?? "https://api.github.com" },
    "timeout-ms": { type: "string", default: process.env.GITHUB_TIMEOUT_MS ?? "15000" },
  },
});

const timeoutMs = Number(values["timeout-ms"]);
const port = Number(values.port);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error(`--timeout-ms must be a positive integer, got ${values["timeout-ms"]}`);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, got ${values.port}`);
const common = { baseUrl: values["api-url"], timeoutMs };

if (values.stdio) {
  await serveStdio(createGitHubServer({ ...common, token: tokenFromEnv() }));
} else {
  const running = await serveHttp(() => createGitHubServer({ ...common, token: tokenFromHeader }), { host: values.host, port });
  // The one line a supervisor (examples/platform) waits for.
  console.log(`mcp-adapter-github listening on ${running.url}`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void running.close().then(() => process.exit(0)));
}
