// Hosts an adapter's MCP server over Streamable HTTP, stateless (a fresh SDK server per request, so any
// replica answers any request and the gateway owns sessions), and over stdio (one server per process).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { readBoundedBody } from "./read-body.ts";

/** What the host needs of an SDK server (McpServer or the low-level Server). */
export interface ConnectableServer {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
}

/**
 * How refusals are answered. "json-rpc": a JSON-RPC error object saying why, for every refusal. "bare": an
 * empty body, except a JSON-RPC parse error for a body that is not JSON.
 */
export type RefusalStyle = "json-rpc" | "bare";

export interface StatelessHttpOptions {
  host?: string;
  port?: number;
  /** Route of the MCP endpoint (default /mcp). */
  path?: string;
  /** Largest accepted request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * Refuse requests that carry Origin with 403. Browsers send Origin on every POST; the gateway and MCP
   * clients do not, so this keeps a web page (or a DNS-rebinding one) from driving an adapter that holds
   * credentials from its environment on loopback.
   */
  refuseBrowsers?: boolean;
  /** Default "json-rpc". */
  refusals?: RefusalStyle;
}

export interface StatelessHttp {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

type Refusal = "not-found" | "method" | "too-large" | "not-json" | "internal";

const jsonRpcError = (code: number, message: string) => JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } });
const JSON_TYPE = { "content-type": "application/json" };

function refuse(res: ServerResponse, style: RefusalStyle, why: Refusal, detail: string): void {
  const allow = why === "method" ? { allow: "POST" } : {};
  const status = { "not-found": 404, method: 405, "too-large": 413, "not-json": 400, internal: 500 }[why];
  if (style === "bare") {
    if (why === "not-json") res.writeHead(status, JSON_TYPE).end(jsonRpcError(-32700, "Parse error"));
    else res.writeHead(status, allow).end();
    return;
  }
  const code = { "not-found": -32601, method: -32000, "too-large": -32600, "not-json": -32700, internal: -32603 }[why];
  res.writeHead(status, { ...allow, ...JSON_TYPE }).end(jsonRpcError(code, detail));
}

/**
 * Serve `build(req)` at http://host:port/path; `build` sees the request, so an adapter can bind the server
 * to the credentials that request carries. GET and DELETE get 405: stateless servers have no streams or sessions.
 */
export async function serveStatelessHttp(
  build: (req: IncomingMessage) => ConnectableServer,
  o: StatelessHttpOptions = {},
): Promise<StatelessHttp> {
  const path = o.path ?? "/mcp";
  const limit = o.maxBodyBytes ?? 1024 * 1024;
  const style = o.refusals ?? "json-rpc";
  const http = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://adapter");
    if (url.pathname === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (url.pathname !== path) return refuse(res, style, "not-found", `no MCP endpoint at ${url.pathname}`);
    if (o.refuseBrowsers && req.headers.origin !== undefined) {
      res.writeHead(403, { "content-type": "text/plain" }).end("requests from browsers (with an Origin header) are not accepted");
      return;
    }
    if (req.method !== "POST") return refuse(res, style, "method", "stateless server: POST only");
    const text = await readBoundedBody(req, limit).catch(() => undefined);
    if (text === undefined) return refuse(res, style, "too-large", `request body larger than ${limit} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return refuse(res, style, "not-json", "request body is not JSON");
    }
    const mcp = build(req);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void mcp.close();
    });
    try {
      await mcp.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      if (!res.headersSent) refuse(res, style, "internal", String(err));
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
    server: http,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

/** Serve one server on this process's stdin/stdout until stdin ends. */
export async function serveStdioUntilEnd(mcp: ConnectableServer): Promise<void> {
  const transport = new StdioServerTransport();
  await mcp.connect(transport);
  await new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once("end", () => resolve());
  });
}
