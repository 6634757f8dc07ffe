// Test helpers: a gateway from an inline config, on 127.0.0.1 port 0, with a captured log.

import { fileURLToPath } from "node:url";
import type { Filter } from "../src/chain/types.ts";
import { parseConfig } from "../src/config/load.ts";
import type { ExtraRoute } from "../src/listener/http-server.ts";
import { jsonLogger } from "../src/logger.ts";
import { createGateway, type Gateway } from "../src/server.ts";

export const TEST_KEY = "test-session-key-0123456789abcdef-0123456789";
export const DEMO_SERVER = fileURLToPath(new URL("../../examples/demo-server/server.ts", import.meta.url));

export interface TestGateway extends Gateway {
  logs: string[];
}

export async function startGateway(
  servers: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  opts: { filters?: Filter[]; extraRoutes?: ExtraRoute[] } = {},
): Promise<TestGateway> {
  const config = parseConfig(
    { listen: { host: "127.0.0.1", port: 0 }, sessions: { key: TEST_KEY }, logging: { level: "debug" }, servers, ...extra },
    process.cwd(),
  );
  const logs: string[] = [];
  const gw = createGateway(config, { logger: jsonLogger("debug", (l) => logs.push(l)), ...opts }) as TestGateway;
  gw.logs = logs;
  await gw.listen();
  return gw;
}

export function stdioDemo(): { command: string; args: string[] } {
  return { command: process.execPath, args: [DEMO_SERVER, "--stdio"] };
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw-test", version: "1" } },
};

/** Open a session by hand; returns the gateway's session id. */
export async function openSession(url: string, protocolVersion = "2025-06-18"): Promise<string> {
  const r = await post(url, { ...INIT, params: { ...INIT.params, protocolVersion } });
  if (r.status !== 200) throw new Error(`initialize failed: ${r.status} ${await r.text()}`);
  await r.text();
  const sid = r.headers.get("mcp-session-id");
  if (!sid) throw new Error("no session id");
  const n = await post(
    url,
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { "mcp-session-id": sid, "mcp-protocol-version": protocolVersion },
  );
  await n.text();
  return sid;
}

/** Parse an SSE or JSON body into JSON-RPC messages. */
export async function messagesOf(r: Response): Promise<Array<Record<string, unknown>>> {
  const text = await r.text();
  if ((r.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    return text
      .split(/\n\n/)
      .map((block) =>
        block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n"),
      )
      .filter((d) => d.length > 0)
      .map((d) => JSON.parse(d));
  }
  const v = JSON.parse(text);
  return Array.isArray(v) ? v : [v];
}
