// Quickstart: starts the HTTP demo MCP server, then the gateway in front of it and of the stdio demo
// server, and prints where to connect. Run from the repository root: npm run quickstart
// Options: --port <n> (default 8080; 0 = any free port).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { type RunningGateway, startConfiguredGateway } from "../../gateway/src/assemble.ts";
import { parseConfig } from "../../gateway/src/config/load.ts";
import { createLogger } from "../../gateway/src/log/logger.ts";
import { startHttpDemo } from "../demo-server/server.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

export async function startQuickstart(
  opts: { port?: number; quiet?: boolean } = {},
): Promise<{ running: RunningGateway; close(): Promise<void> }> {
  const demo = await startHttpDemo({ name: "demo-http" });
  const env = {
    ...process.env,
    DEMO_HTTP_URL: demo.url,
    MCP_GATEWAY_SESSION_KEY: process.env.MCP_GATEWAY_SESSION_KEY ?? randomBytes(32).toString("base64url"),
  };
  const tree = parse(readFileSync(`${here}gateway.yaml`, "utf8")) as {
    listen: { port: number };
    servers: Record<string, { cwd?: string }>;
  };
  if (opts.port !== undefined) tree.listen.port = opts.port;
  tree.servers["demo-stdio"]!.cwd = here;
  const config = parseConfig(tree, here, { env });
  const logger = createLogger({ level: opts.quiet ? "warn" : config.logging.level });
  const running = await startConfiguredGateway(config, { baseDir: here, logger, env });
  return {
    running,
    close: async () => {
      await running.close();
      await demo.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const { running, close } = await startQuickstart({ port: i > 0 ? Number(process.argv[i + 1]) : undefined });
  const u = running.url;
  process.stdout.write(`
mcp-gateway quickstart is running: listening on ${u}

  MCP endpoints (Streamable HTTP; legacy SSE clients add /sse):
    ${u}/mcp/demo-stdio   demo server over stdio (one child process per session)
    ${u}/mcp/demo-http    demo server over Streamable HTTP

${running.banner ?? ""}

Try it with an MCP client, for example the MCP Inspector:
    npx @modelcontextprotocol/inspector    → Transport "Streamable HTTP", URL ${u}/mcp/demo-http,
                                             Authentication: Bearer <the dev key above>
  With dev-1 every tool answers: dev mode counts it as MFA-verified (loopback only). With dev-2 the
  read-only tools (echo, add) answer and write/execute tools (count, delete_things …) answer with an
  RFC 9470 step-up challenge, because the default policy requires MFA for them (policies/README.md).
  Every message is written to stdout as an audit record.

or with curl:
    curl -si ${u}/mcp/demo-http -H "authorization: Bearer <key>" -H 'content-type: application/json' \\
      -H 'accept: application/json, text/event-stream' \\
      -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
    (then send the returned Mcp-Session-Id header with tools/list, tools/call …)

Press Ctrl+C to stop.
`);
  const stop = async () => {
    await close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
}
