// Test helper: a synthetic Exchange as the relay would build it, with the caller's own credentials
// already in the downstream headers (so tests can prove they never reach upstreamHeaders).

import type { Exchange, Filter, Principal, Verdict } from "../../src/chain/types.ts";
import type { RpcMessage } from "../../src/codec/jsonrpc.ts";

export const CALLER_TOKEN = "caller-bearer-token-7d1f0c5e9b2a";
export const CALLER_COOKIE = "sid=caller-cookie-3e8a6f4d2c1b";

export function principal(sub: string, extra: Partial<Principal> = {}): Principal {
  return { sub, iss: "https://idp.test", groups: [], scopes: [], amr: [], claims: {}, ...extra };
}

export function exchange(server: string, p: Principal | undefined, upstreamHeaders: Record<string, string> = {}): Exchange {
  return {
    server,
    downstream: "streamable-http",
    url: "/mcp/test",
    httpMethod: "POST",
    headers: { authorization: `Bearer ${CALLER_TOKEN}`, cookie: CALLER_COOKIE, "x-api-key": "caller-api-key-55aa" },
    clientAddress: "127.0.0.1",
    start: performance.now(),
    protocolVersion: "2025-11-25",
    messages: [],
    batch: false,
    principal: p,
    session: undefined,
    sessionId: undefined,
    upstreamHeaders,
    upstreamEnv: {},
    vars: new Map(),
  };
}

/** A tools/call message for synthetic POST exchanges. */
export const CALL: RpcMessage = {
  kind: "request",
  id: 1,
  method: "tools/call",
  target: "x",
  arguments: {},
  raw: { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x", arguments: {} } },
};

/**
 * Run a filter the way the chain does for one request: onRequest, then (POST) onMessage for one
 * message. Keeps a synchronous verdict synchronous.
 */
export function viaChain(f: Filter, ex: Exchange, msg: RpcMessage = CALL): Verdict | Promise<Verdict> {
  const v = f.onRequest?.(ex);
  const next = (r: Verdict): Verdict | Promise<Verdict> => (r || ex.httpMethod !== "POST" || !f.onMessage ? r : f.onMessage(ex, msg));
  return v instanceof Promise ? v.then(next) : next(v);
}
