// Audit records for tool governance: every pin, definition change and approval, and every human
// approval asked of a user and its answer, from the `mcp-gateway:governance` diagnostics channel.

import { channels, type GovernanceEvent } from "../diagnostics.ts";
import { ECS_VERSION } from "./logger.ts";
import { traceFields } from "./message-facts.ts";

export interface GovernanceAuditRecord {
  "@timestamp": string;
  "ecs.version": string;
  "event.kind": "event";
  "event.dataset": "mcp_gateway.audit";
  "event.action": GovernanceEvent["type"];
  "event.category": ["configuration"] | ["iam"];
  "event.outcome": "success" | "failure" | "unknown";
  "service.name": string;
  "mcp_gateway.server": string;
  "gen_ai.tool.name": string;
  "mcp_gateway.pin.hash"?: string;
  "mcp_gateway.pin.previous_hash"?: string;
  /** Operator who approved a definition. */
  "mcp_gateway.pin.approved_by"?: string;
  /** The user asked to approve a call. */
  "user.id"?: string;
  "mcp_gateway.principal.iss"?: string;
  "jsonrpc.request.id"?: string;
  "mcp_gateway.approval.reason"?: string;
  "trace.id"?: string;
}

const OUTCOME: Record<GovernanceEvent["type"], GovernanceAuditRecord["event.outcome"]> = {
  "tool.pinned": "success",
  "tool.changed": "unknown",
  "tool.approved": "success",
  "approval.requested": "unknown",
  "approval.accepted": "success",
  "approval.declined": "failure",
  "approval.timeout": "failure",
  "approval.unsupported": "failure",
};

export function governanceRecord(ev: GovernanceEvent, serviceName: string): GovernanceAuditRecord {
  const rec: GovernanceAuditRecord = {
    "@timestamp": new Date().toISOString(),
    "ecs.version": ECS_VERSION,
    "event.kind": "event",
    "event.dataset": "mcp_gateway.audit",
    "event.action": ev.type,
    "event.category": ev.type.startsWith("tool.") ? ["configuration"] : ["iam"],
    "event.outcome": OUTCOME[ev.type],
    "service.name": serviceName,
    "mcp_gateway.server": ev.server,
    "gen_ai.tool.name": ev.tool,
  };
  if (ev.hash) rec["mcp_gateway.pin.hash"] = ev.hash;
  if (ev.previousHash) rec["mcp_gateway.pin.previous_hash"] = ev.previousHash;
  if (ev.type === "tool.approved" && ev.by) rec["mcp_gateway.pin.approved_by"] = ev.by;
  const ex = ev.exchange;
  if (ex?.principal) {
    rec["user.id"] = ex.principal.sub;
    rec["mcp_gateway.principal.iss"] = ex.principal.iss;
  }
  if (ev.reason) rec["mcp_gateway.approval.reason"] = ev.reason;
  if (ex) {
    const id = ex.messages.length === 1 ? ex.messages[0]!.id : undefined;
    if (id !== undefined) rec["jsonrpc.request.id"] = String(id);
    const t = traceFields(ex)["trace.id"];
    if (t) rec["trace.id"] = t;
  }
  return rec;
}

/** Subscribe `write` to this gateway's governance events. Returns the unsubscribe function. */
export function startGovernanceAudit(
  write: (r: GovernanceAuditRecord) => void,
  opts: { serviceName?: string; gatewayId?: string } = {},
): () => void {
  const serviceName = opts.serviceName ?? "mcp-gateway";
  const on = (m: unknown) => {
    const ev = m as GovernanceEvent;
    if (opts.gatewayId !== undefined && ev.gatewayId !== opts.gatewayId) return;
    write(governanceRecord(ev, serviceName));
  };
  channels.governance.subscribe(on);
  return () => channels.governance.unsubscribe(on);
}
