// The audit log: one ECS record per relayed message (who, server, method, target, decision, outcome,
// latency, trace id) built from the diagnostics events, to stdout or a size-rotated file. No OpenTelemetry.

import type { Writable } from "node:stream";
import type { RpcMessage } from "../codec/jsonrpc.ts";
import { channels, type MessageEvent, type StageEvent } from "../diagnostics.ts";
import { taskFactsOf } from "../filters/tasks/task-facts.ts";
import type { GovernanceAuditRecord } from "./audit-governance.ts";
import type { AuditConfig } from "./audit-schema.ts";
import { type LineWriter, RotatingFileWriter, StreamLineWriter } from "./line-writer.ts";
import { ECS_VERSION } from "./logger.ts";
import { errorTypeOf, hashSessionId, STATELESS_ERA, traceOf } from "./message-facts.ts";
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
  write(record: AuditRecord | GovernanceAuditRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Records dropped because the sink could not keep up (also reported as a warning on close). */
  readonly dropped: number;
}

export interface AuditSinkOptions {
  sink?: "stdout" | "file";
  path?: string;
  maxBytes?: number;
  maxFiles?: number;
  /** Overrides `sink`: write lines to this stream (tests, embedding). */
  stream?: Pick<Writable, "write">;
}

export function createAuditSink(opts: AuditSinkOptions = {}): AuditSink {
  let w: LineWriter;
  if (opts.stream) w = new StreamLineWriter(opts.stream);
  else if (opts.sink === "file") {
    if (!opts.path) throw new Error('audit sink "file" needs a path');
    w = new RotatingFileWriter({ path: opts.path, maxBytes: opts.maxBytes ?? 50 * 1024 * 1024, maxFiles: opts.maxFiles ?? 5 });
  } else w = new StreamLineWriter(process.stdout);
  return {
    write(record) {
      w.write(`${JSON.stringify(record, redactingReplacer)}\n`);
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
    const rec: AuditRecord = {
      "@timestamp": new Date(origin + ev.start).toISOString(),
      "ecs.version": ECS_VERSION,
      "event.kind": "event",
      "event.dataset": "mcp_gateway.audit",
      "event.action": msg.method ?? "response",
      "event.outcome": errorType === undefined ? "success" : "failure",
      "event.duration": Math.round(latency * 1e6),
      "service.name": serviceName,
      "mcp_gateway.server": ex.server,
      "mcp_gateway.direction": ev.direction,
      "mcp_gateway.message.kind": msg.kind,
      "mcp_gateway.authz.decision": d?.decision ?? "not_evaluated",
      "mcp_gateway.outcome": errorType ?? "ok",
      "mcp_gateway.latency_ms": Math.round(latency * 1000) / 1000,
    };
    if (p) {
      rec["user.id"] = p.sub;
      rec["mcp_gateway.principal.iss"] = p.iss;
      if (p.clientId !== undefined) rec["mcp_gateway.principal.client_id"] = p.clientId;
      if (p.groups.length > 0) rec["mcp_gateway.principal.groups"] = p.groups;
      if (p.scopes.length > 0) rec["mcp_gateway.principal.scopes"] = p.scopes;
      if (p.amr.length > 0) rec["mcp_gateway.principal.amr"] = p.amr;
    }
    if (ex.clientAddress) rec["client.address"] = ex.clientAddress;
    if (msg.method !== undefined) rec["mcp.method.name"] = msg.method;
    if (msg.target !== undefined) {
      if (msg.method === "tools/call") rec["gen_ai.tool.name"] = msg.target;
      else if (msg.method === "prompts/get") rec["gen_ai.prompt.name"] = msg.target;
      else if (msg.method?.startsWith("resources/")) rec["mcp.resource.uri"] = redactString(msg.target);
      else rec["mcp_gateway.target"] = msg.target;
    }
    if (msg.id !== undefined) rec["jsonrpc.request.id"] = String(msg.id);
    if (ex.protocolVersion) rec["mcp.protocol.version"] = ex.protocolVersion;
    if (ex.sessionId !== undefined && ex.protocolVersion !== STATELESS_ERA) rec["mcp.session.id"] = hashSessionId(ex.sessionId);
    if (d?.reason !== undefined) rec["mcp_gateway.authz.reason"] = d.reason;
    if (d?.engine !== undefined) rec["mcp_gateway.authz.engine"] = d.engine;
    if (d?.revision !== undefined) rec["mcp_gateway.authz.revision"] = d.revision;
    if (d?.action !== undefined) rec["mcp_gateway.authz.action"] = d.action;
    if (d?.requireApproval) rec["mcp_gateway.authz.require_approval"] = true;
    if (d?.refusedBy !== undefined) rec["mcp_gateway.refused_by"] = d.refusedBy;
    const code = ev.gatewayError ?? d?.refusedCode;
    if (code !== undefined) rec["error.code"] = code;
    const t = traceOf(ev);
    if (t) rec["trace.id"] = t.traceId;
    const task = taskFactsOf(msg, ev.response);
    if (task?.taskId !== undefined) rec["mcp.task.id"] = task.taskId;
    if (task?.workflowId !== undefined) rec["mcp_gateway.workflow.id"] = task.workflowId;
    if (redactor) {
      if (opts.recordArguments && msg.arguments !== undefined) rec["mcp_gateway.arguments"] = redactor.arguments(msg.arguments);
      if (opts.recordResults && ev.response?.raw.result !== undefined) rec["mcp_gateway.result"] = redactor.result(ev.response.raw.result);
    }
    sink.write(rec);
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
