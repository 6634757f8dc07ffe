// One decision-log record per authorization decision, shaped like OPA's decision logs
// (https://www.openpolicyagent.org/docs/management-decision-logs) so existing tooling can read them.

import { randomUUID } from "node:crypto";
import { StreamLineWriter } from "../../log/line-writer.ts";
import { isoTimestamp } from "../../log/message-facts.ts";
import type { AuthzInput, Decision } from "./types.ts";

export interface DecisionLogRecord {
  // --- OPA decision-log fields ---
  decision_id: string;
  /** RFC 3339 with ms. */
  timestamp: string;
  /** Rule path evaluated: "mcp/authz/decision" or "mcp/authz/filter". */
  path: string;
  input: unknown;
  /** The decision (or, for a list, the visible targets); absent when the engine failed. */
  result?: unknown;
  /** JSON pointers removed from `input` (OPA: "erased"). */
  erased?: string[];
  /** JSON pointers whose value was replaced by "[REDACTED]" (OPA: "masked"). */
  masked?: string[];
  metrics: Record<string, number>;
  labels: Record<string, string>;
  bundles: Record<string, { revision: string }>;
  requested_by: string;
  trace_id?: string;
  span_id?: string;
  // --- gateway additions: the facts a reviewer filters on without parsing `input` ---
  subject: string | null;
  groups: string[];
  server: string;
  method: string;
  target?: string;
  action?: string;
  allow: boolean;
  reason: string;
  revision: string;
  engine: string;
  cached: boolean;
  /** AUTHZ_UNAVAILABLE cause (unavailable | timeout | malformed) when the engine failed. */
  error?: string;
  /** Shadow evaluation that disagreed (records with labels.shadow = "true"). */
  shadow?: { revision: string; result?: unknown; error?: string };
}

export interface DecisionLogOptions {
  enabled: boolean;
  /** Log tools/call arguments (after redaction). Default false: /input/arguments is erased. */
  includeArguments: boolean;
  /** Log subject.claims. Default false: /input/subject/claims is erased. */
  includeClaims: boolean;
  /** JSON pointers masked in the logged input, e.g. "/input/arguments/password". */
  redact: readonly string[];
  /** Argument keys (any depth) whose values are masked; case-insensitive. */
  redactKeys: RegExp | undefined;
  labels: Record<string, string>;
}

export type DecisionLogSink = (record: DecisionLogRecord) => void;

// Lines are queued and written in batches (log/line-writer.ts: every 20 ms or 64 KiB, one write in flight,
// bounded at 16 MiB, drops counted), like the audit sink: stdout on a pipe is a system call made in place on
// Linux, so one write per decision (and even one per event-loop turn) cost the event loop a system call and a
// reader wake-up each time. A crash loses at most the last 20 ms of records.
let stdoutLines: StreamLineWriter | undefined;

/** Default sink: one JSON line per record on stdout. */
export const stdoutSink: DecisionLogSink = (record) => {
  stdoutLines ??= new StreamLineWriter(process.stdout, { maxQueuedBytes: 16 * 1024 * 1024 });
  stdoutLines.write(`${JSON.stringify(record)}\n`);
};

/** Resolves when every record given to `stdoutSink` so far is written. */
export function flushStdoutSink(): Promise<void> {
  return stdoutLines?.flush() ?? Promise.resolve();
}

/** Records `stdoutSink` dropped because stdout could not keep up (16 MiB queued). */
export function stdoutSinkDropped(): number {
  return stdoutLines?.dropped ?? 0;
}

export const DEFAULT_REDACT_KEYS = /pass(word|phrase)?|secret|token|authorization|api[-_]?key|private[-_]?key|credential/i;

const REDACTED = "[REDACTED]";
/** Deeper argument trees are cut in the log (the policy still saw all of them). */
const MAX_LOG_DEPTH = 16;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function escapePointer(k: string): string {
  return k.replace(/~/g, "~0").replace(/\//g, "~1");
}

function unescapePointer(k: string): string {
  return k.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Copy of an argument tree with keys matching `keys` masked; paths masked appended to `masked`. */
function maskKeys(v: unknown, keys: RegExp | undefined, path: string, depth: number, masked: string[]): unknown {
  if (depth > MAX_LOG_DEPTH) return "[TRUNCATED]";
  if (Array.isArray(v)) return v.map((x, i) => maskKeys(x, keys, `${path}/${i}`, depth + 1, masked));
  if (!isObj(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const p = `${path}/${escapePointer(k)}`;
    if (keys?.test(k)) {
      out[k] = REDACTED;
      masked.push(p);
    } else {
      out[k] = maskKeys(x, keys, p, depth + 1, masked);
    }
  }
  return out;
}

/** Mask one "/input/…" pointer in an already-copied tree. */
function maskPointer(root: Record<string, unknown>, pointer: string, masked: string[]): void {
  const parts = pointer.split("/").slice(1).map(unescapePointer);
  if (parts[0] !== "input" || parts.length < 2) return;
  let node: unknown = root;
  for (let i = 1; i < parts.length - 1; i++) {
    const k = parts[i]!;
    if (Array.isArray(node)) node = node[Number(k)];
    else if (isObj(node)) node = node[k];
    else return;
  }
  const last = parts[parts.length - 1]!;
  if (isObj(node) && last in node) {
    node[last] = REDACTED;
    masked.push(pointer);
  } else if (Array.isArray(node) && Number(last) < node.length) {
    node[Number(last)] = REDACTED;
    masked.push(pointer);
  }
}

/** The input as logged: arguments and claims erased unless configured, secrets masked. */
export function loggedInput(
  input: AuthzInput,
  opts: DecisionLogOptions,
): { input: Record<string, unknown>; erased?: string[]; masked?: string[] } {
  const erased: string[] = [];
  const masked: string[] = [];
  // Arguments left out by destructuring, not `delete`: a deleted property turns the copy into a dictionary-mode
  // object, which JSON.stringify serialises markedly slower (this copy is serialised once per decision).
  const { arguments: _arguments, ...rest } = input;
  const out: Record<string, unknown> = opts.includeArguments ? { ...input } : rest;
  if (input.subject && !opts.includeClaims) {
    const { claims: _claims, ...rest } = input.subject;
    out.subject = rest;
    erased.push("/input/subject/claims");
  }
  if ("arguments" in input && input.arguments !== undefined) {
    if (opts.includeArguments) {
      out.arguments = maskKeys(input.arguments, opts.redactKeys, "/input/arguments", 0, masked);
      // Pointers that fall in the copied argument tree (or anywhere else in the copy).
      for (const p of opts.redact) {
        if (p.startsWith("/input/arguments/")) maskPointer(out, p, masked);
      }
    } else {
      erased.push("/input/arguments");
    }
  }
  const r: { input: Record<string, unknown>; erased?: string[]; masked?: string[] } = { input: out };
  if (erased.length) r.erased = erased;
  if (masked.length) r.masked = masked;
  return r;
}

/** Parse a W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header). */
export function parseTraceparent(v: unknown): { traceId: string; spanId: string } | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}/.exec(v.trim());
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]! };
}

export interface RecordFacts {
  path: string;
  input: AuthzInput;
  logged: { input: Record<string, unknown>; erased?: string[]; masked?: string[] };
  result: unknown;
  decision: Decision;
  revision: string;
  engine: string;
  cached: boolean;
  error?: string;
  metrics: Record<string, number>;
  labels: Record<string, string>;
  trace?: { traceId: string; spanId: string } | undefined;
}

export function buildRecord(f: RecordFacts): DecisionLogRecord {
  const r: DecisionLogRecord = {
    decision_id: randomUUID(),
    timestamp: isoTimestamp(Date.now()),
    path: f.path,
    input: f.logged.input,
    metrics: f.metrics,
    labels: f.labels,
    bundles: { authz: { revision: f.revision } },
    requested_by: f.input.request?.client_address ?? "",
    subject: f.input.subject?.sub ?? null,
    groups: f.input.subject?.groups ?? [],
    server: f.input.server,
    method: f.input.method,
    allow: f.decision.allow,
    reason: f.decision.reason,
    revision: f.revision,
    engine: f.engine,
    cached: f.cached,
  };
  if (f.result !== undefined) r.result = f.result;
  if (f.logged.erased) r.erased = f.logged.erased;
  if (f.logged.masked) r.masked = f.logged.masked;
  if (f.input.target !== undefined) r.target = f.input.target;
  if (f.input.action !== undefined) r.action = f.input.action;
  if (f.error !== undefined) r.error = f.error;
  if (f.trace) {
    r.trace_id = f.trace.traceId;
    r.span_id = f.trace.spanId;
  }
  return r;
}
