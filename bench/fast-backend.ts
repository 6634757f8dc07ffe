// A minimal, fast MCP backend over Streamable HTTP (node:http only, no SDK): the reference the gateway is measured against.
// Run: `node bench/fast-backend.ts [--port N] [--host H]`; prints `fast-backend listening on http://HOST:PORT/mcp`.

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { answer, type RpcMessage } from "./mcp-echo.ts";

const MAX_BODY = 1024 * 1024;

export interface FastBackend {
  url: string;
  server: Server;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
  const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (extra) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  reply(res, status, JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }));
}

function handlePost(sessions: Set<string>, req: IncomingMessage, res: ServerResponse, raw: string): void {
  let msg: RpcMessage;
  try {
    msg = JSON.parse(raw) as RpcMessage;
  } catch {
    rpcError(res, 400, -32700, "Parse error");
    return;
  }
  // Streamable HTTP (MCP 2025-06-18 §Session Management): the id comes back on the InitializeResult response;
  // later requests must carry it (missing → 400, unknown → 404).
  if (msg?.method === "initialize") {
    const out = answer(msg);
    const sid = randomUUID();
    sessions.add(sid);
    reply(res, 200, out ?? "", { "mcp-session-id": sid });
    return;
  }
  const sid = req.headers["mcp-session-id"];
  if (typeof sid !== "string") {
    rpcError(res, 400, -32000, "Bad Request: missing Mcp-Session-Id");
    return;
  }
  if (!sessions.has(sid)) {
    rpcError(res, 404, -32001, "Session not found");
    return;
  }
  const out = answer(msg);
  if (out === undefined) {
    // Notifications and responses: 202 Accepted, no body.
    res.writeHead(202, { "content-length": 0 });
    res.end();
    return;
  }
  reply(res, 200, out);
}

function handle(sessions: Set<string>, required: [string, string] | undefined, req: IncomingMessage, res: ServerResponse): void {
  // The full-pipeline bench (full.ts) requires the credential the gateway injects: a call without it is a wrong answer.
  if (required && req.headers[required[0]] !== required[1]) {
    rpcError(res, 401, -32000, `missing or wrong ${required[0]}`);
    return;
  }
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  if (path !== "/mcp") {
    rpcError(res, 404, -32000, "Not found");
    return;
  }
  if (req.method === "POST") {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        rpcError(res, 413, -32000, "Body too large");
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (res.headersSent) return;
      const raw = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
      handlePost(sessions, req, res, raw);
    });
    return;
  }
  if (req.method === "DELETE") {
    const sid = req.headers["mcp-session-id"];
    if (typeof sid === "string" && sessions.delete(sid)) {
      res.writeHead(200, { "content-length": 0 });
      res.end();
    } else rpcError(res, 404, -32001, "Session not found");
    return;
  }
  // No server-initiated stream: GET → 405 (allowed by Streamable HTTP).
  res.writeHead(405, { allow: "POST, DELETE", "content-length": 0 });
  res.end();
}

export async function startFastBackend(
  opts: { host?: string; port?: number; requireHeader?: [string, string] | undefined } = {},
): Promise<FastBackend> {
  const host = opts.host ?? "127.0.0.1";
  const sessions = new Set<string>();
  const required = opts.requireHeader;
  const server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, (req, res) => handle(sessions, required, req, res));
  // Keep-alive must outlive the load generator's idle gaps between warm-up and measured run.
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/mcp`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" } } });
  // FAST_BACKEND_REQUIRE_HEADER="name=value": answer 401 to any request without that header (name in lower case).
  const req = process.env.FAST_BACKEND_REQUIRE_HEADER;
  const eq = req ? req.indexOf("=") : -1;
  const requireHeader: [string, string] | undefined = req && eq > 0 ? [req.slice(0, eq).toLowerCase(), req.slice(eq + 1)] : undefined;
  const backend = await startFastBackend({ host: values.host ?? "127.0.0.1", port: values.port ? Number(values.port) : 0, requireHeader });
  process.stdout.write(`fast-backend listening on ${backend.url}\n`);
  const stop = () => void backend.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
