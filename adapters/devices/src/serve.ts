// Runs an adapter's MCP server over Streamable HTTP (stateless: a fresh server per request, so any
// replica answers any request and the gateway owns sessions) or over stdio (one server per process).

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

export interface HttpOptions {
  host?: string;
  port?: number;
  /** Route of the MCP endpoint (default /mcp). */
  path?: string;
  /** Largest accepted request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
}

export interface RunningHttp {
  readonly url: string;
  close(): Promise<void>;
}

const jsonRpcError = (code: number, message: string) => JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } });

async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Serve `build()` at http://host:port/path. GET and DELETE get 405: stateless servers have no streams or sessions. */
export async function serveHttp(build: () => McpServer, o: HttpOptions = {}): Promise<RunningHttp> {
  const path = o.path ?? "/mcp";
  const limit = o.maxBodyBytes ?? 1024 * 1024;
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://adapter");
    if (url.pathname === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (url.pathname !== path) {
      res.writeHead(404, { "content-type": "application/json" }).end(jsonRpcError(-32601, `no MCP endpoint at ${url.pathname}`));
      return;
    }
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST", "content-type": "application/json" }).end(jsonRpcError(-32000, "stateless server: POST only"));
      return;
    }
    const text = await readBody(req, limit).catch(() => undefined);
    if (text === undefined) {
      res.writeHead(413, { "content-type": "application/json" }).end(jsonRpcError(-32600, `request body larger than ${limit} bytes`));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end(jsonRpcError(-32700, "request body is not JSON"));
      return;
    }
    const mcp = build();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void mcp.close();
    });
    try {
      await mcp.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(jsonRpcError(-32603, String(err)));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serve one server on this process's stdin/stdout until stdin ends. */
export async function serveStdio(mcp: McpServer): Promise<void> {
  const transport = new StdioServerTransport();
  await mcp.connect(transport);
  await new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once("end", () => resolve());
  });
}
