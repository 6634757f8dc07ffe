// Serves the workflows MCP server over Streamable HTTP with sessions (the GET stream carries task
// status and progress notifications after a task-augmented call has been answered).

import { randomUUID } from "node:crypto";
import { createServer, type Server as HttpServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

export interface HttpOptions {
  host?: string;
  port?: number;
  path?: string;
  maxBodyBytes?: number;
  /** Open sessions at most; the oldest is closed beyond it (bounded memory). */
  maxSessions?: number;
}

export interface RunningHttp {
  readonly url: string;
  close(): Promise<void>;
}

const rpcError = (code: number, message: string) => JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } });

async function readJson(
  req: IncomingMessage,
  limit: number,
): Promise<{ ok: true; body: unknown } | { ok: false; status: number; message: string }> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return { ok: false, status: 413, message: `request body larger than ${limit} bytes` };
    chunks.push(chunk);
  }
  try {
    return { ok: true, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch {
    return { ok: false, status: 400, message: "request body is not JSON" };
  }
}

export async function serveWorkflowsHttp(build: () => Server, o: HttpOptions = {}): Promise<RunningHttp> {
  const path = o.path ?? "/mcp";
  const limit = o.maxBodyBytes ?? 1024 * 1024;
  const maxSessions = o.maxSessions ?? 1000;
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: Server }>();

  const http: HttpServer = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://workflows");
    if (url.pathname === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (url.pathname !== path) {
      res.writeHead(404, { "content-type": "application/json" }).end(rpcError(-32601, `no MCP endpoint at ${url.pathname}`));
      return;
    }
    const sid = req.headers["mcp-session-id"];
    try {
      if (typeof sid === "string") {
        const s = sessions.get(sid);
        if (!s) {
          res.writeHead(404, { "content-type": "application/json" }).end(rpcError(-32001, "session not found"));
          return;
        }
        const body = req.method === "POST" ? await readJson(req, limit) : undefined;
        if (body && !body.ok) {
          res.writeHead(body.status, { "content-type": "application/json" }).end(rpcError(-32600, body.message));
          return;
        }
        await s.transport.handleRequest(req, res, body?.ok ? body.body : undefined);
        return;
      }
      if (req.method !== "POST") {
        res.writeHead(400, { "content-type": "application/json" }).end(rpcError(-32000, "Mcp-Session-Id header is required"));
        return;
      }
      const body = await readJson(req, limit);
      if (!body.ok) {
        res.writeHead(body.status, { "content-type": "application/json" }).end(rpcError(-32600, body.message));
        return;
      }
      if (!isInitializeRequest(body.body)) {
        res.writeHead(400, { "content-type": "application/json" }).end(rpcError(-32000, "Mcp-Session-Id header is required"));
        return;
      }
      const server = build();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { transport, server });
          while (sessions.size > maxSessions) {
            const [oldest, s] = sessions.entries().next().value as [string, { transport: StreamableHTTPServerTransport }];
            sessions.delete(oldest);
            void s.transport.close();
          }
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
        void server.close();
      };
      await server.connect(transport);
      await transport.handleRequest(req, res, body.body);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(rpcError(-32603, String(err)));
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = http.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}${path}`,
    close: async () => {
      for (const s of sessions.values()) await s.transport.close().catch(() => {});
      sessions.clear();
      await new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    },
  };
}
