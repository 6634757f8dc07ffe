// Test helpers for the authn stage: a minimal synthetic Exchange and config parsing, so filter tests
// run in-process without the gateway's HTTP listener.

import type { IncomingHttpHeaders } from "node:http";
import type { Exchange, LocalReply, Verdict } from "../../src/chain/types.ts";
import { type AuthConfig, type AuthConfigInput, authSchema } from "../../src/config/schema-authn.ts";

export const BASE = "https://gw.example.test";

export function exchange(
  server: string,
  headers: IncomingHttpHeaders = {},
  o: { url?: string; httpMethod?: "POST" | "GET" | "DELETE" } = {},
): Exchange & { url: string } {
  return {
    server,
    downstream: "streamable-http",
    httpMethod: o.httpMethod ?? "POST",
    headers,
    clientAddress: "127.0.0.1",
    start: performance.now(),
    protocolVersion: "2025-06-18",
    messages: [],
    batch: false,
    principal: undefined,
    session: undefined,
    sessionId: undefined,
    upstreamHeaders: {},
    upstreamEnv: {},
    vars: new Map(),
    url: o.url ?? `/mcp/${server}`,
  };
}

export const bearer = (token: string): IncomingHttpHeaders => ({ authorization: `Bearer ${token}` });

export function authConfig(input: AuthConfigInput): AuthConfig {
  return authSchema.parse(input);
}

/** Narrow a verdict to a reply (fails the test when the request was admitted). */
export function expectReply(v: Verdict): LocalReply {
  if (!v) throw new Error("expected a local reply, the request was admitted");
  return v;
}

export function summary(v: Verdict): { code: string; status: number; challenge: string | undefined } | undefined {
  if (!v) return undefined;
  return { code: v.error.code, status: v.status ?? v.error.spec.http, challenge: v.headers?.["www-authenticate"] };
}
