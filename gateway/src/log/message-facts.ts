// Facts about one relayed message that audit (here) and spans (otel/) both report, computed the same
// way in both places: outcome / error.type, W3C trace ids, and the hashed session id.

import { createHash } from "node:crypto";
import type { Exchange } from "../chain/types.ts";
import type { RpcMessage } from "../codec/jsonrpc.ts";
import type { MessageEvent } from "../diagnostics.ts";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The JSON-RPC error member of a response, if it is one. */
export function rpcErrorOf(response: RpcMessage | undefined): { code: number; message: string } | undefined {
  const e = response?.raw.error;
  if (!isObject(e)) return undefined;
  return { code: typeof e.code === "number" ? e.code : 0, message: typeof e.message === "string" ? e.message : "" };
}

/** CallToolResult.isError (MCP schema, "Error Handling" of tools): a tool failure inside a successful JSON-RPC result. */
export function isToolError(response: RpcMessage | undefined): boolean {
  const r = response?.raw.result;
  return isObject(r) && r.isError === true;
}

/**
 * `error.type` per the MCP semantic conventions: the JSON-RPC error code as a string, `tool_error`
 * when a tool result has isError, the gateway's own code when it answered locally; undefined when ok.
 */
export function errorTypeOf(ev: MessageEvent): string | undefined {
  if (ev.errorType !== undefined) return ev.errorType;
  if (ev.gatewayError !== undefined) return ev.gatewayError;
  const e = rpcErrorOf(ev.response);
  if (e) return String(e.code);
  if (isToolError(ev.response)) return "tool_error";
  return undefined;
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** Trace and span id of a W3C traceparent (Trace Context §3.2), or undefined if it is not valid. */
export function parseTraceparent(v: unknown): { traceId: string; spanId: string; sampled: boolean } | undefined {
  if (typeof v !== "string" || v.length < 55) return undefined;
  const m = TRACEPARENT_RE.exec(v.trim());
  if (!m || m[1] === "ff") return undefined;
  const traceId = m[2]!;
  const spanId = m[3]!;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(m[4]!, 16) & 1) === 1 };
}

/** `params._meta` of a message, when present (where 2026-07-28 and SEP-414 carry traceparent). */
export function metaOf(msg: RpcMessage): Record<string, unknown> | undefined {
  const p = msg.raw.params;
  if (!isObject(p)) return undefined;
  const m = p._meta;
  return isObject(m) ? m : undefined;
}

/**
 * The trace a message belongs to, without OpenTelemetry: what the telemetry subscriber propagates
 * upstream (it sets ev.propagation at message.start), else the caller's own traceparent in `_meta`
 * or the HTTP headers. So audit records carry the same trace.id as the spans when telemetry is on.
 */
export function traceOf(ev: MessageEvent): { traceId: string; spanId: string } | undefined {
  return parseTraceparent(ev.propagation?.traceparent) ?? callerTrace(ev.message, ev.exchange);
}

/** The caller's own trace context: `traceparent` in the message's `_meta`, else the HTTP header. */
function callerTrace(msg: RpcMessage | undefined, ex: Exchange): { traceId: string; spanId: string } | undefined {
  const meta = msg ? metaOf(msg) : undefined;
  const fromMeta = meta ? parseTraceparent(meta.traceparent) : undefined;
  if (fromMeta) return fromMeta;
  const h = ex.headers.traceparent;
  return parseTraceparent(Array.isArray(h) ? h[0] : h);
}

/**
 * ECS `trace.id` / `span.id` for a log line about this exchange, so a log line leads to its trace: the
 * gateway's own span when telemetry propagates one (the CLIENT span once the backend call started), else
 * the caller's trace id from `_meta` or the headers (no span id: the gateway made none). Empty when untraced.
 */
export function traceFields(ex: Exchange): Record<string, string> {
  const own = parseTraceparent(ex.traceEvent?.propagation?.traceparent);
  if (own) return { "trace.id": own.traceId, "span.id": own.spanId };
  const caller = callerTrace(ex.messages[0], ex);
  return caller ? { "trace.id": caller.traceId } : {};
}

// Session ids are capabilities (a sealed token, or the backend's id): never written as is. A truncated
// SHA-256 still lets a reviewer group the records and spans of one session. Small bounded memo: a busy
// session hashes once, not once per message.
const HASH_MEMO_MAX = 1024;
const hashMemo = new Map<string, string>();

export function hashSessionId(id: string): string {
  const hit = hashMemo.get(id);
  if (hit !== undefined) return hit;
  const h = createHash("sha256").update(id).digest("hex").slice(0, 32);
  if (hashMemo.size >= HASH_MEMO_MAX) hashMemo.delete(hashMemo.keys().next().value as string);
  hashMemo.set(id, h);
  return h;
}

/** The era without sessions: mcp.session.id must not be reported for it (MCP-NOTES.md). */
export const STATELESS_ERA = "2026-07-28";

// Records of one millisecond share their timestamp string (several per ms under load): Date + toISOString
// cost ~0.5 µs, a compare costs nothing.
let isoMs = Number.NaN;
let isoText = "";

/** `new Date(ms).toISOString()`, remembered for the last millisecond asked. */
export function isoTimestamp(ms: number): string {
  const t = Math.trunc(ms);
  if (t !== isoMs) {
    isoText = new Date(t).toISOString();
    isoMs = t;
  }
  return isoText;
}
