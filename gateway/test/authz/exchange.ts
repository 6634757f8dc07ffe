// Synthetic Exchange and messages for in-process tests of the authz filter (no sockets).

import type { Exchange, Principal } from "../../src/chain/types.ts";
import { type RpcMessage, toMessage } from "../../src/codec/jsonrpc.ts";

export function principal(groups: string[], amr: string[] = ["pwd"], sub = "alice"): Principal {
  return { sub, iss: "https://idp.test", clientId: "agent", groups, scopes: ["mcp"], amr, claims: { email: `${sub}@example.test` } };
}

export function exchange(
  server: string,
  p: Principal | undefined,
  opts: { protocolVersion?: string; sessionId?: string; headers?: Record<string, string> } = {},
): Exchange {
  const modern = opts.protocolVersion === "2026-07-28";
  return {
    server,
    downstream: "streamable-http",
    url: "/mcp/test",
    httpMethod: "POST",
    headers: opts.headers ?? {},
    clientAddress: "127.0.0.1",
    start: performance.now(),
    protocolVersion: opts.protocolVersion ?? "2025-11-25",
    messages: [],
    batch: false,
    principal: p,
    session: undefined,
    sessionId: modern ? undefined : (opts.sessionId ?? "sess-1"),
    upstreamHeaders: {},
    upstreamEnv: {},
    vars: new Map(),
  };
}

let nextId = 1;

export function request(method: string, params?: Record<string, unknown>): RpcMessage {
  return toMessage({ jsonrpc: "2.0", id: nextId++, method, ...(params ? { params } : {}) });
}

export function toolCall(name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>): RpcMessage {
  return request("tools/call", { name, arguments: args, ...(meta ? { _meta: meta } : {}) });
}

export function response(id: RpcMessage["id"], result: Record<string, unknown>): RpcMessage {
  return toMessage({ jsonrpc: "2.0", id, result });
}

export function tool(name: string, annotations?: Record<string, unknown>): Record<string, unknown> {
  return { name, inputSchema: { type: "object" }, ...(annotations ? { annotations } : {}) };
}
