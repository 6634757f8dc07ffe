// The audit log: one ECS record per relayed message (who, server, method, target, decision, outcome,
// latency, trace id) built from the diagnostics events, to stdout or a size-rotated file. No OpenTelemetry.

import type { Writable } from "node:stream";
import type { Principal } from "../chain/types.ts";
import type { RpcMessage } from "../codec/jsonrpc.ts";
import { channels, type MessageEvent, type StageEvent } from "../diagnostics.ts";
import { taskFactsOf } from "../filters/tasks/task-facts.ts";
import type { GovernanceAuditRecord } from "./audit-governance.ts";
import type { AuditConfig } from "./audit-schema.ts";
import { type LineWriter, type QueueLimits, RotatingFileWriter, StreamLineWriter } from "./line-writer.ts";
import { ECS_VERSION } from "./logger.ts";
import { errorTypeOf, hashSessionId, isoTimestamp, STATELESS_ERA, traceOf } from "./message-facts.ts";
import { compileRedactor, redactingReplacer, redactString } from "./redact.ts";
import { startRefusalAudit } from "./refusal-audit.ts";

/**
 * One audit record. Keys are ECS (`@timestamp`, `event.*`, `user.id`, `client.address`, `trace.id`) or the
 * MCP semantic-convention names the spans use (`mcp.method.name`, `gen_ai.tool.name` …), so one Kibana
 * query works on audit records and on spans; gateway-specific facts live under `mcp_gateway.*`.
 */
export interface AuditRecord {
  "@timestamp": string;
  "ecs.version": string;
  "event.kind": "event";
  "event.dataset": "mcp_gateway.audit";
  "event.action": string;
  "event.outcome": "success" | "failure";
  /** ECS: nanoseconds. */
  "event.duration": number;
  "service.name": string;
  "user.id"?: string;
  "mcp_gateway.principal.iss"?: string;
  "mcp_gateway.principal.client_id"?: string;
  "mcp_gateway.principal.groups"?: string[];
  /** Scopes and authentication methods of the caller (what policy replay needs; never a token). */
  "mcp_gateway.principal.scopes"?: string[];
  "mcp_gateway.principal.amr"?: string[];
  "client.address"?: string;
  "mcp_gateway.server": string;
  "mcp_gateway.direction": MessageEvent["direction"];
  /** "unparsed": a refusal before any message could be read (log/refusal-audit.ts). */
  "mcp_gateway.message.kind": RpcMessage["kind"] | "unparsed";
  "mcp.method.name"?: string;
  "gen_ai.tool.name"?: string;
  "gen_ai.prompt.name"?: string;
  "mcp.resource.uri"?: string;
  /** Target of other methods (completion/complete ref). */
  "mcp_gateway.target"?: string;
  "jsonrpc.request.id"?: string;
  "mcp.protocol.version"?: string;
  /** Truncated SHA-256 of the session id, never the id itself. */
  "mcp.session.id"?: string;
  "mcp_gateway.authz.decision": "allow" | "deny" | "not_evaluated";
  "mcp_gateway.authz.reason"?: string;
  "mcp_gateway.authz.engine"?: string;
  /** Policy revision that decided, the action it was asked about, and whether it required approval. */
  "mcp_gateway.authz.revision"?: string;
  "mcp_gateway.authz.action"?: string;
  "mcp_gateway.authz.require_approval"?: boolean;
  /** Stage that answered locally instead of relaying (authn, authz, limits …). */
  "mcp_gateway.refused_by"?: string;
  /** "ok", a JSON-RPC error code, "tool_error", or the gateway's own error code. */
  "mcp_gateway.outcome": string;
  "error.code"?: string;
  "mcp_gateway.latency_ms": number;
  "trace.id"?: string;
  /** MCP task the message names or creates (tasks/*, task-augmented tools/call). */
  "mcp.task.id"?: string;
  /** Workflow behind the task or tool result, as the backend reports it (`_meta["mcp-edge/workflow-id"]`). */
  "mcp_gateway.workflow.id"?: string;
  "mcp_gateway.arguments"?: string;
  "mcp_gateway.result"?: string;
  /** Refusals before parsing: the HTTP request, and (aggregated records) how many it stands for. */
  "http.request.method"?: string;
  "url.path"?: string;
  "http.response.status_code"?: number;
  "mcp_gateway.refusals.count"?: number;
}

export interface AuditSink {
  /** Any record: serialised with the redacting replacer (records built outside this module, governance). */
  write(record: AuditRecord | GovernanceAuditRecord): void;
  /**
   * A record built by startAudit / the refusal audit, whose every caller-controlled string was passed through
   * redactString when it was built (see `redactedFields`): serialised without a replacer function, which
   * made JSON.stringify about ten times slower. Sinks without it get write().
   */
  writeRedacted?(record: AuditRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Records dropped because the sink could not keep up (also reported as a warning on close). */
  readonly dropped: number;
}

export interface AuditSinkOptions extends QueueLimits {
  sink?: "stdout" | "file";
  path?: string;
  maxBytes?: number;
  maxFiles?: number;
  /** Overrides `sink`: write lines to this stream (tests, embedding). */
  stream?: Pick<Writable, "write">;
}

export function createAuditSink(opts: AuditSinkOptions = {}): AuditSink {
  const limits: QueueLimits = {};
  if (opts.maxQueuedBytes !== undefined) limits.maxQueuedBytes = opts.maxQueuedBytes;
  if (opts.flushIntervalMs !== undefined) limits.flushIntervalMs = opts.flushIntervalMs;
  if (opts.batchBytes !== undefined) limits.batchBytes = opts.batchBytes;
  let w: LineWriter;
  if (opts.stream) w = new StreamLineWriter(opts.stream, limits);
  else if (opts.sink === "file") {
    if (!opts.path) throw new Error('audit sink "file" needs a path');
    w = new RotatingFileWriter({ ...limits, path: opts.path, maxBytes: opts.maxBytes ?? 50 * 1024 * 1024, maxFiles: opts.maxFiles ?? 5 });
  } else w = new StreamLineWriter(process.stdout, limits);
  return {
    write(record) {
      w.write(`${JSON.stringify(record, redactingReplacer)}\n`);
    },
    writeRedacted(record) {
      w.write(`${JSON.stringify(record)}\n`);
    },
    flush: () => w.flush(),
    close: () => w.close(),
    get dropped() {
      return w.dropped;
    },
  };
}

export type AuditOptions = Partial<
  Pick<AuditConfig, "recordArguments" | "recordResults" | "redact" | "maxValueChars" | "excludeMethods">
> & {
  serviceName?: string;
  /** Only this gateway's events (Exchange.gatewayId); unset: every gateway in the process. */
  gatewayId?: string;
};

interface Decision {
  decision?: "allow" | "deny";
  reason?: string;
  engine?: string;
  revision?: string;
  action?: string;
  requireApproval?: boolean;
  refusedBy?: string;
  refusedCode?: string;
}

/** Attribute keys an authz filter puts on its StageEvent (see docs/observability.md, "stage attributes"). */
const A_DECISION = "decision";
const A_REASON = "reason";
const A_ENGINE = "engine";

const r = redactString;

/**
 * How each audit field is made safe. CONSTANT: a literal, a number, a boolean, the configured service name,
 * a hash or a validated hex id, or the output of the payload redactor; REDACTED: any other string, passed
 * through redactString when the record is built. A test holds every field a record can carry to this list,
 * so a new field cannot reach the file unclassified.
 */
export const AUDIT_FIELDS: Readonly<Record<keyof AuditRecord, "constant" | "redacted">> = {
  "@timestamp": "constant",
  "ecs.version": "constant",
  "event.kind": "constant",
  "event.dataset": "constant",
  "event.action": "redacted",
  "event.outcome": "constant",
  "event.duration": "constant",
  "service.name": "constant",
  "user.id": "redacted",
  "mcp_gateway.principal.iss": "redacted",
  "mcp_gateway.principal.client_id": "redacted",
  "mcp_gateway.principal.groups": "redacted",
  "mcp_gateway.principal.scopes": "redacted",
  "mcp_gateway.principal.amr": "redacted",
  "client.address": "redacted",
  "mcp_gateway.server": "redacted",
  "mcp_gateway.direction": "constant",
  "mcp_gateway.message.kind": "constant",
  "mcp.method.name": "redacted",
  "gen_ai.tool.name": "redacted",
  "gen_ai.prompt.name": "redacted",
  "mcp.resource.uri": "redacted",
  "mcp_gateway.target": "redacted",
  "jsonrpc.request.id": "redacted",
  "mcp.protocol.version": "redacted",
  "mcp.session.id": "constant",
  "mcp_gateway.authz.decision": "constant",
  "mcp_gateway.authz.reason": "redacted",
  "mcp_gateway.authz.engine": "redacted",
  "mcp_gateway.authz.revision": "redacted",
  "mcp_gateway.authz.action": "redacted",
  "mcp_gateway.authz.require_approval": "constant",
  "mcp_gateway.refused_by": "redacted",
  "mcp_gateway.outcome": "redacted",
  "error.code": "redacted",
  "mcp_gateway.latency_ms": "constant",
  "trace.id": "constant",
  "mcp.task.id": "redacted",
  "mcp_gateway.workflow.id": "redacted",
  "mcp_gateway.arguments": "constant",
  "mcp_gateway.result": "constant",
  "http.request.method": "redacted",
  "url.path": "redacted",
  "http.response.status_code": "constant",
  "mcp_gateway.refusals.count": "constant",
};

interface PrincipalFields {
  sub: string;
  iss: string;
  clientId: string | undefined;
  groups: string[];
  scopes: string[];
  amr: string[];
}

function redactAll(a: string[]): string[] {
  let out: string[] | undefined;
  for (let i = 0; i < a.length; i++) {
    const v = redactString(a[i]!);
    if (v === a[i]) continue;
    out ??= a.slice();
    out[i] = v;
  }
  return out ?? a;
}

// A principal from the verified-token cache is one frozen object shared by all its requests: its redacted
// fields are computed once. An unfrozen one (a fresh verification) is redacted per record, not remembered.
const principalMemo = new WeakMap<Principal, PrincipalFields>();

function principalFields(p: Principal): PrincipalFields {
  const hit = principalMemo.get(p);
  if (hit) return hit;
  const f: PrincipalFields = {
    sub: redactString(p.sub),
    iss: redactString(p.iss),
    clientId: p.clientId === undefined ? undefined : redactString(p.clientId),
    groups: redactAll(p.groups),
    scopes: redactAll(p.scopes),
    amr: redactAll(p.amr),
  };
  if (Object.isFrozen(p)) principalMemo.set(p, f);
  return f;
}

/**
 * Subscribe the sink to the gateway's diagnostics events. Returns stop(), which unsubscribes (the sink
 * itself is closed by its owner). Keeps its per-request state in the exchange's `vars` (never the events'
 * `slot`, which belongs to otel/; no WeakMap per request: its churn costs garbage-collection time).
 */
export function startAudit(sink: AuditSink, opts: AuditOptions = {}): () => void {
  const serviceName = opts.serviceName ?? "mcp-gateway";
  const exclude = new Set(opts.excludeMethods ?? ["notifications/progress"]);
  const redactor = opts.recordArguments || opts.recordResults ? compileRedactor(opts.redact ?? [], opts.maxValueChars ?? 8192) : undefined;
  // Decisions by message (per-message stages) or by exchange (per-request stages such as authn), kept
  // with the exchange under a key of this sink's own (several sinks may watch one exchange).
  const DECISIONS = Symbol("mcp-gateway.audit-decisions");
  const decisionsOf = (ex: StageEvent["exchange"]) => ex.vars.get(DECISIONS) as Map<object, Decision> | undefined;
  const origin = performance.timeOrigin;
  const write = sink.writeRedacted ? (rec: AuditRecord) => sink.writeRedacted!(rec) : (rec: AuditRecord) => sink.write(rec);

  const onStageEnd = (m: unknown) => {
    const ev = m as StageEvent;
    if (opts.gatewayId !== undefined && ev.exchange.gatewayId !== opts.gatewayId) return;
    if (ev.stage !== "authz" && ev.replied === undefined) return;
    const key: object = ev.message ?? ev.exchange;
    let decisions = decisionsOf(ev.exchange);
    if (!decisions) {
      decisions = new Map();
      ev.exchange.vars.set(DECISIONS, decisions);
    }
    let d = decisions.get(key);
    if (!d) {
      d = {};
      decisions.set(key, d);
    }
    if (ev.stage === "authz") {
      const a = ev.attributes;
      const dv = a?.[A_DECISION];
      d.decision = dv === "allow" || dv === "deny" ? dv : ev.replied !== undefined ? "deny" : "allow";
      if (typeof a?.[A_REASON] === "string") d.reason = a[A_REASON] as string;
      if (typeof a?.[A_ENGINE] === "string") d.engine = a[A_ENGINE] as string;
      if (typeof a?.revision === "string") d.revision = a.revision;
      if (typeof a?.action === "string") d.action = a.action;
      if (a?.require_approval === true) d.requireApproval = true;
    }
    if (ev.replied !== undefined && d.refusedBy === undefined) {
      d.refusedBy = ev.stage;
      d.refusedCode = ev.replied;
    }
  };

  const onMessageEnd = (m: unknown) => {
    const ev = m as MessageEvent;
    if (opts.gatewayId !== undefined && ev.exchange.gatewayId !== opts.gatewayId) return;
    const msg = ev.message;
    if (msg.method !== undefined && exclude.has(msg.method)) return;
    const ex = ev.exchange;
    const end = ev.end ?? performance.now();
    const latency = end - ev.start;
    const errorType = errorTypeOf(ev);
    const decisions = decisionsOf(ex);
    const d = decisions && (decisions.get(msg) ?? decisions.get(ex));
    const p = ex.principal;
    // Every string a caller (or a backend, or a policy quoting either) can choose goes through `r`
    // (redactString) here, so the line is serialised without a replacer function; AUDIT_FIELDS says which.
    const rec: AuditRecord = {
      "@timestamp": isoTimestamp(origin + ev.start),
      "ecs.version": ECS_VERSION,
      "event.kind": "event",
      "event.dataset": "mcp_gateway.audit",
      "event.action": msg.method === undefined ? "response" : r(msg.method),
      "event.outcome": errorType === undefined ? "success" : "failure",
      "event.duration": Math.round(latency * 1e6),
      "service.name": serviceName,
      "mcp_gateway.server": r(ex.server),
      "mcp_gateway.direction": ev.direction,
      "mcp_gateway.message.kind": msg.kind,
      "mcp_gateway.authz.decision": d?.decision ?? "not_evaluated",
      "mcp_gateway.outcome": errorType === undefined ? "ok" : r(errorType),
      "mcp_gateway.latency_ms": Math.round(latency * 1000) / 1000,
    };
    if (p) {
      const f = principalFields(p);
      rec["user.id"] = f.sub;
      rec["mcp_gateway.principal.iss"] = f.iss;
      if (f.clientId !== undefined) rec["mcp_gateway.principal.client_id"] = f.clientId;
      if (f.groups.length > 0) rec["mcp_gateway.principal.groups"] = f.groups;
      if (f.scopes.length > 0) rec["mcp_gateway.principal.scopes"] = f.scopes;
      if (f.amr.length > 0) rec["mcp_gateway.principal.amr"] = f.amr;
    }
    if (ex.clientAddress) rec["client.address"] = r(ex.clientAddress);
    if (msg.method !== undefined) rec["mcp.method.name"] = rec["event.action"];
    if (msg.target !== undefined) {
      const target = r(msg.target);
      if (msg.method === "tools/call") rec["gen_ai.tool.name"] = target;
      else if (msg.method === "prompts/get") rec["gen_ai.prompt.name"] = target;
      else if (msg.method?.startsWith("resources/")) rec["mcp.resource.uri"] = target;
      else rec["mcp_gateway.target"] = target;
    }
    if (msg.id !== undefined) rec["jsonrpc.request.id"] = r(String(msg.id));
    if (ex.protocolVersion) rec["mcp.protocol.version"] = r(ex.protocolVersion);
    if (ex.sessionId !== undefined && ex.protocolVersion !== STATELESS_ERA) rec["mcp.session.id"] = hashSessionId(ex.sessionId);
    if (d?.reason !== undefined) rec["mcp_gateway.authz.reason"] = r(d.reason);
    if (d?.engine !== undefined) rec["mcp_gateway.authz.engine"] = r(d.engine);
    if (d?.revision !== undefined) rec["mcp_gateway.authz.revision"] = r(d.revision);
    if (d?.action !== undefined) rec["mcp_gateway.authz.action"] = r(d.action);
    if (d?.requireApproval) rec["mcp_gateway.authz.require_approval"] = true;
    if (d?.refusedBy !== undefined) rec["mcp_gateway.refused_by"] = r(d.refusedBy);
    const code = ev.gatewayError ?? d?.refusedCode;
    if (code !== undefined) rec["error.code"] = r(code);
    const t = traceOf(ev);
    if (t) rec["trace.id"] = t.traceId;
    const task = taskFactsOf(msg, ev.response);
    if (task?.taskId !== undefined) rec["mcp.task.id"] = r(task.taskId);
    if (task?.workflowId !== undefined) rec["mcp_gateway.workflow.id"] = r(task.workflowId);
    if (redactor) {
      if (opts.recordArguments && msg.arguments !== undefined) rec["mcp_gateway.arguments"] = redactor.arguments(msg.arguments);
      if (opts.recordResults && ev.response?.raw.result !== undefined) rec["mcp_gateway.result"] = redactor.result(ev.response.raw.result);
    }
    write(rec);
  };

  channels.stageEnd.subscribe(onStageEnd);
  channels.messageEnd.subscribe(onMessageEnd);
  const stopRefusals = startRefusalAudit(sink, { serviceName, gatewayId: opts.gatewayId });
  return () => {
    channels.stageEnd.unsubscribe(onStageEnd);
    channels.messageEnd.unsubscribe(onMessageEnd);
    stopRefusals();
  };
}
