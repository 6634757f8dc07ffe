// Test helper: a synthetic Exchange as the relay would build it, with the caller's own credentials
// already in the downstream headers (so tests can prove they never reach upstreamHeaders).

import type { Exchange, Principal } from "../../src/chain/types.ts";

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
