// W3C Trace Context in and out: extracted from the downstream HTTP headers and from `params._meta`
// (MCP semconv "Context propagation", SEP-414: unprefixed traceparent/tracestate/baggage), injected as a
// plain record the gateway merges into the upstream headers and `_meta`.

import type { IncomingHttpHeaders } from "node:http";
import { type Context, ROOT_CONTEXT, type SpanContext, type TextMapGetter, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

const w3c = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k],
};

const metaGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => {
    const v = c[k];
    return typeof v === "string" ? v : undefined;
  },
};

/** W3C Baggage §3.3.1: a header larger than this need not be propagated. */
const MAX_BAGGAGE = 8192;

export interface Extracted {
  /** Context holding the remote parent span context (ROOT_CONTEXT when none was valid). */
  readonly ctx: Context;
  readonly remote: SpanContext | undefined;
  /** The caller's baggage, passed on unchanged. */
  readonly baggage: string | undefined;
}

const NONE: Extracted = { ctx: ROOT_CONTEXT, remote: undefined, baggage: undefined };

function finish(ctx: Context, baggage: unknown): Extracted {
  const sc = trace.getSpanContext(ctx);
  const b = typeof baggage === "string" && baggage.length <= MAX_BAGGAGE ? baggage : undefined;
  if (!sc && b === undefined) return NONE;
  return { ctx, remote: sc, baggage: b };
}

export function extractFromHeaders(h: IncomingHttpHeaders): Extracted {
  if (h.traceparent === undefined && h.baggage === undefined) return NONE;
  const ctx = h.traceparent === undefined ? ROOT_CONTEXT : w3c.extract(ROOT_CONTEXT, h, headerGetter);
  const b = h.baggage;
  return finish(ctx, Array.isArray(b) ? b.join(",") : b);
}

export function extractFromMeta(meta: Record<string, unknown> | undefined): Extracted {
  if (meta === undefined || (typeof meta.traceparent !== "string" && typeof meta.baggage !== "string")) return NONE;
  const ctx = typeof meta.traceparent === "string" ? w3c.extract(ROOT_CONTEXT, meta, metaGetter) : ROOT_CONTEXT;
  return finish(ctx, meta.baggage);
}

/** The record to merge into upstream headers and `_meta` for a span context (same keys in both places). */
export function injectRecord(sc: SpanContext, baggage: string | undefined, into: Record<string, string> = {}): Record<string, string> {
  into.traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
  const ts = sc.traceState?.serialize();
  if (ts) into.tracestate = ts;
  else delete into.tracestate;
  if (baggage !== undefined) into.baggage = baggage;
  return into;
}
