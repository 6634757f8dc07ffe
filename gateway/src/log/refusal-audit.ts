// Audit records for refusals before any message could be parsed (log/refusals.ts), bounded for floods:
// up to `perSecond` records a second (burst 2×) are written one by one; beyond that, refusals are counted
// per (code, client address, route) and written as one aggregated record per key and window.

import type { AuditRecord, AuditSink } from "./audit.ts";
import { ECS_VERSION } from "./logger.ts";
import { redactString } from "./redact.ts";
import { type RefusalEvent, refusalChannel } from "./refusals.ts";

export interface RefusalAuditOptions {
  serviceName: string;
  gatewayId?: string | undefined;
  /** Individual records per second before aggregation starts (default 100). */
  perSecond?: number;
  /** Aggregation window (ms, default 10 000). */
  windowMs?: number;
}

/** Keys of the aggregation table at most; further keys are counted under one "other" key. */
const MAX_KEYS = 1000;

/** Every caller-chosen string (path, method, address, principal) is redacted here: written without a replacer. */
function record(ev: RefusalEvent, serviceName: string, count?: { n: number; from: number; to: number }): AuditRecord {
  const r = redactString;
  const rec: AuditRecord = {
    "@timestamp": new Date(count ? count.from : ev.time).toISOString(),
    "ecs.version": ECS_VERSION,
    "event.kind": "event",
    "event.dataset": "mcp_gateway.audit",
    "event.action": count ? "refusals_aggregated" : "refused_before_parse",
    "event.outcome": "failure",
    "event.duration": count ? (count.to - count.from) * 1e6 : 0,
    "service.name": serviceName,
    "mcp_gateway.server": r(ev.server ?? ""),
    "mcp_gateway.direction": "client-to-server",
    "mcp_gateway.message.kind": "unparsed",
    "mcp_gateway.authz.decision": "not_evaluated",
    "mcp_gateway.refused_by": "listener",
    "mcp_gateway.outcome": r(ev.code),
    "error.code": r(ev.code),
    "mcp_gateway.latency_ms": 0,
    "http.request.method": r(ev.httpMethod),
    "url.path": r(ev.path),
    "http.response.status_code": ev.httpStatus,
  };
  if (ev.clientAddress) rec["client.address"] = r(ev.clientAddress);
  if (ev.principal) {
    rec["user.id"] = r(ev.principal.sub);
    rec["mcp_gateway.principal.iss"] = r(ev.principal.iss);
  }
  if (count) rec["mcp_gateway.refusals.count"] = count.n;
  return rec;
}

/** Subscribe; returns stop(), which writes what is still aggregated and unsubscribes. */
export function startRefusalAudit(sink: AuditSink, o: RefusalAuditOptions): () => void {
  const rate = o.perSecond ?? 100;
  const burst = rate * 2;
  const windowMs = o.windowMs ?? 10_000;
  let tokens = burst;
  let at = Date.now();
  const write = sink.writeRedacted ? (rec: AuditRecord) => sink.writeRedacted!(rec) : (rec: AuditRecord) => sink.write(rec);
  const pending = new Map<string, { ev: RefusalEvent; n: number; from: number; to: number }>();

  const flush = () => {
    for (const p of pending.values()) write(record(p.ev, o.serviceName, p));
    pending.clear();
  };
  const timer = setInterval(flush, windowMs);
  timer.unref();

  const onRefusal = (m: unknown) => {
    const ev = m as RefusalEvent;
    if (o.gatewayId !== undefined && ev.gatewayId !== o.gatewayId) return;
    const now = ev.time;
    tokens = Math.min(burst, tokens + ((now - at) * rate) / 1000);
    at = now;
    if (tokens >= 1) {
      tokens -= 1;
      write(record(ev, o.serviceName));
      return;
    }
    let key = `${ev.code}\u0000${ev.clientAddress}\u0000${ev.server ?? ""}`;
    if (!pending.has(key) && pending.size >= MAX_KEYS) key = "other";
    const p = pending.get(key);
    if (p) {
      p.n++;
      p.to = now;
    } else pending.set(key, { ev: key === "other" ? { ...ev, clientAddress: "", server: undefined } : ev, n: 1, from: now, to: now });
  };
  refusalChannel.subscribe(onRefusal);
  return () => {
    refusalChannel.unsubscribe(onRefusal);
    clearInterval(timer);
    flush();
  };
}
