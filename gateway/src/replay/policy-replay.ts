// `mcp-gateway policy replay`: rebuild the OPA input of each decision recorded in an audit log,
// evaluate it with another bundle (the same embedded OPA-wasm engine the gateway runs) and report what changes.

import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { AuthzAction, AuthzInput, Decision } from "../filters/authz/types.ts";
import { WasmEngine } from "../filters/authz/wasm-engine.ts";

export type ReplayChange = "allowed→denied" | "denied→allowed" | "approval added" | "approval removed";

export interface ReplayedDecision {
  line: number;
  time: string;
  user: string | undefined;
  server: string;
  method: string;
  target: string | undefined;
  recorded: { allow: boolean; reason: string | undefined; revision: string | undefined; requireApproval: boolean };
  replayed: { allow: boolean; reason: string; requireApproval: boolean } | { error: string };
  change: ReplayChange | "unchanged" | "error";
  /** Parts of the original input the audit record did not hold (the replay used empty values). */
  missing: string[];
}

export interface ReplayReport {
  bundle: string;
  revision: string;
  records: number;
  replayed: number;
  /** Lines that are not audit records of a decision (other events, refusals before authz, garbage). */
  skipped: number;
  counts: Record<ReplayChange | "unchanged" | "error", number>;
  /** Every change (and, with showUnchanged, everything). */
  decisions: ReplayedDecision[];
  /** How many replayed inputs lacked arguments or claims (recordArguments off; claims are never recorded). */
  missing: Record<string, number>;
}

type AuditLine = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

const TARGET_FIELDS = ["gen_ai.tool.name", "gen_ai.prompt.name", "mcp.resource.uri", "mcp_gateway.target"];
const ACTIONS = new Set<string>(["read", "write", "execute"]);

/**
 * The decision input the gateway built for this record, as far as the record holds it
 * (ARCHITECTURE.md "The OPA contract"; gateway/src/filters/authz/filter.ts inputFor).
 */
export function inputOfRecord(r: AuditLine): { input: AuthzInput; missing: string[] } | undefined {
  const decision = r["mcp_gateway.authz.decision"];
  if (decision !== "allow" && decision !== "deny") return undefined;
  if (r["mcp_gateway.direction"] !== "client-to-server") return undefined;
  const method = str(r["mcp.method.name"]);
  const server = str(r["mcp_gateway.server"]);
  if (!method || !server) return undefined;
  const missing: string[] = [];
  const sub = str(r["user.id"]);
  const input: AuthzInput = {
    subject: sub
      ? {
          sub,
          iss: str(r["mcp_gateway.principal.iss"]) ?? "",
          groups: strs(r["mcp_gateway.principal.groups"]),
          scopes: strs(r["mcp_gateway.principal.scopes"]),
          amr: strs(r["mcp_gateway.principal.amr"]),
          claims: {},
          ...(str(r["mcp_gateway.principal.client_id"]) ? { client_id: str(r["mcp_gateway.principal.client_id"])! } : {}),
        }
      : null,
    server,
    method,
    request: {
      protocol_version: str(r["mcp.protocol.version"]) ?? "",
      session: str(r["mcp.session.id"]) ?? null,
      client_address: str(r["client.address"]) ?? "",
      time: str(r["@timestamp"]) ?? "",
    },
  };
  if (sub) missing.push("claims");
  for (const f of TARGET_FIELDS) {
    const t = str(r[f]);
    if (t !== undefined) {
      input.target = t;
      break;
    }
  }
  if (input.target !== undefined) {
    const a = str(r["mcp_gateway.authz.action"]);
    if (a && ACTIONS.has(a)) input.action = a as AuthzAction;
    else missing.push("action");
  }
  if (method === "tools/call" || method === "prompts/get") {
    const recorded = str(r["mcp_gateway.arguments"]);
    let args: unknown = {};
    if (recorded === undefined) missing.push("arguments");
    else {
      try {
        args = JSON.parse(recorded);
      } catch {
        missing.push("arguments"); // truncated by maxValueChars
      }
    }
    input.arguments = args;
  }
  return { input, missing };
}

function classify(recAllow: boolean, recApproval: boolean, d: Decision): ReplayChange | "unchanged" {
  if (recAllow && !d.allow) return "allowed→denied";
  if (!recAllow && d.allow) return "denied→allowed";
  const approval = d.require_approval === true;
  if (d.allow && approval && !recApproval) return "approval added";
  if (d.allow && !approval && recApproval) return "approval removed";
  return "unchanged";
}

export async function replayAudit(o: { auditFile: string; bundlePath: string; showUnchanged?: boolean }): Promise<ReplayReport> {
  const engine = await WasmEngine.create({ bundlePath: o.bundlePath, watch: false });
  const report: ReplayReport = {
    bundle: o.bundlePath,
    revision: engine.revision,
    records: 0,
    replayed: 0,
    skipped: 0,
    counts: { "allowed→denied": 0, "denied→allowed": 0, "approval added": 0, "approval removed": 0, unchanged: 0, error: 0 },
    decisions: [],
    missing: {},
  };
  try {
    const lines = createInterface({ input: createReadStream(o.auditFile, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
    let n = 0;
    for await (const text of lines) {
      n++;
      if (text.trim() === "") continue;
      report.records++;
      let r: AuditLine;
      try {
        r = JSON.parse(text) as AuditLine;
      } catch {
        report.skipped++;
        continue;
      }
      const built = typeof r === "object" && r !== null ? inputOfRecord(r) : undefined;
      if (!built) {
        report.skipped++;
        continue;
      }
      report.replayed++;
      for (const m of built.missing) report.missing[m] = (report.missing[m] ?? 0) + 1;
      const recAllow = r["mcp_gateway.authz.decision"] === "allow";
      const recApproval = r["mcp_gateway.authz.require_approval"] === true;
      const base = {
        line: n,
        time: str(r["@timestamp"]) ?? "",
        user: str(r["user.id"]),
        server: built.input.server,
        method: built.input.method,
        target: built.input.target,
        recorded: {
          allow: recAllow,
          reason: str(r["mcp_gateway.authz.reason"]),
          revision: str(r["mcp_gateway.authz.revision"]),
          requireApproval: recApproval,
        },
        missing: built.missing,
      };
      let d: Decision;
      try {
        d = engine.decideSync(built.input);
      } catch (e) {
        report.counts.error++;
        report.decisions.push({ ...base, replayed: { error: (e as Error).message }, change: "error" });
        continue;
      }
      const change = classify(recAllow, recApproval, d);
      report.counts[change]++;
      if (change !== "unchanged" || o.showUnchanged) {
        report.decisions.push({
          ...base,
          replayed: { allow: d.allow, reason: d.reason, requireApproval: d.require_approval === true },
          change,
        });
      }
    }
  } finally {
    await engine.close();
  }
  return report;
}

export function formatReplay(r: ReplayReport, opts: { showUnchanged?: boolean } = {}): string {
  const out: string[] = [];
  out.push(`replayed ${r.replayed} decisions of ${r.records} audit records against ${r.bundle} (revision ${r.revision})`);
  const c = r.counts;
  out.push(
    `  allowed→denied: ${c["allowed→denied"]}   denied→allowed: ${c["denied→allowed"]}   approval added: ${c["approval added"]}   approval removed: ${c["approval removed"]}   unchanged: ${c.unchanged}   errors: ${c.error}   skipped lines: ${r.skipped}`,
  );
  for (const d of r.decisions) {
    if (d.change === "unchanged" && !opts.showUnchanged) continue;
    const what = `${d.method}${d.target !== undefined ? ` ${d.target}` : ""} on ${d.server}`;
    const now = "error" in d.replayed ? `error: ${d.replayed.error}` : d.replayed.reason;
    out.push(`${d.change.padEnd(16)} ${d.time}  ${d.user ?? "(anonymous)"}  ${what}`);
    out.push(
      `${"".padEnd(16)}   was: ${d.recorded.reason ?? "(no reason recorded)"}${d.recorded.revision ? ` [${d.recorded.revision}]` : ""}`,
    );
    out.push(
      `${"".padEnd(16)}   now: ${now}${d.missing.includes("arguments") ? "   (arguments were not recorded: replayed with {})" : ""}`,
    );
  }
  const m = Object.entries(r.missing).filter(([k]) => k !== "claims");
  if (m.length > 0) out.push(`note: inputs lacked ${m.map(([k, v]) => `${k} (${v})`).join(", ")}; see docs/governance.md "Policy replay"`);
  return `${out.join("\n")}\n`;
}
