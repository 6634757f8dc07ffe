// The request headers relayed to a backend: an allow-list, so the caller's Authorization and cookies
// can never pass (no token passthrough), plus the credentials stage's headers.

import type { IncomingHttpHeaders } from "node:http";
import { UPSTREAM_STRIP } from "../chain/types.ts";

/** What the allow-list reads from an exchange. */
export interface ForwardSource {
  readonly headers: IncomingHttpHeaders;
  readonly vars: Map<symbol, unknown>;
  readonly upstreamHeaders: Record<string, string>;
  /** 2026-07-28 request: unknown Mcp-Param-* headers are forwarded too. */
  readonly modern: boolean;
}

// Request headers relayed upstream: an allow-list, so the caller's Authorization and cookies can never pass.
const FORWARD = ["mcp-protocol-version", "last-event-id", "mcp-method", "mcp-name", "traceparent", "tracestate", "baggage"];

export function upstreamHeaders(ex: ForwardSource, extra: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const h = ex.headers;
  // Headers a filter wants withheld (credentials stage `stripHeaders`) are dropped from the allow-list too.
  const strip = ex.vars.get(UPSTREAM_STRIP) as ReadonlySet<string> | undefined;
  for (const name of FORWARD) {
    const v = h[name];
    if (typeof v === "string" && !strip?.has(name)) out[name] = v;
  }
  if (ex.modern) {
    // 2026-07-28: intermediaries MUST forward unknown Mcp-Param-* headers.
    for (const name in h) {
      if (name.startsWith("mcp-param-") && !strip?.has(name)) {
        const v = h[name];
        if (typeof v === "string") out[name] = v;
      }
    }
  }
  Object.assign(out, ex.upstreamHeaders);
  if (extra) Object.assign(out, extra);
  return out;
}
