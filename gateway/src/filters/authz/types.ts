// Types of the authorization contract (policies/README.md) and the engine interface both the
// embedded wasm engine and the OPA sidecar implement.

/** read | write | execute: what a call does, from config or MCP tool annotations. */
export type AuthzAction = "read" | "write" | "execute";

export const AUTHZ_ACTIONS: readonly AuthzAction[] = ["read", "write", "execute"];

export interface AuthzSubject {
  sub: string;
  iss: string;
  client_id?: string;
  groups: string[];
  scopes: string[];
  amr: string[];
  claims: Record<string, unknown>;
}

export interface AuthzRequestInfo {
  protocol_version: string;
  /** Downstream session id; null for 2026-07-28 (no sessions) and before initialize completes. */
  session: string | null;
  client_address: string;
  /** RFC 3339. Not part of the cache key (see decision-cache.ts). */
  time: string;
}

/** The OPA input, exactly as ARCHITECTURE.md "The OPA contract". */
export interface AuthzInput {
  /** null when no principal is known: the policy denies. */
  subject: AuthzSubject | null;
  server: string;
  method: string;
  target?: string;
  action?: AuthzAction;
  arguments?: unknown;
  request: AuthzRequestInfo;
}

/** One list item for the batch filter: judged as the call/get/read that would use it. */
export interface FilterItem {
  target: string;
  action: AuthzAction;
}

/** RFC 9470 step-up parameters the policy asks for. */
export interface StepUp {
  acr_values?: string;
  max_age?: number;
}

/** `data.mcp.authz.decision`. Policies may add fields; they are kept and logged. */
export interface Decision {
  allow: boolean;
  reason: string;
  /** Deny depends on this call (arguments / authentication strength), not on who asks: target stays listed. */
  conditional?: boolean;
  step_up?: StepUp;
  [extra: string]: unknown;
}

export type AuthzFailure = "unavailable" | "timeout" | "malformed";

/**
 * The engine could not produce a well-formed decision. Callers turn this into a deny with
 * AUTHZ_UNAVAILABLE (ARCHITECTURE.md invariant 1: nothing is let through).
 */
export class AuthzEngineError extends Error {
  readonly kind: AuthzFailure;
  constructor(kind: AuthzFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AuthzEngineError";
    this.kind = kind;
  }
}

export interface AuthzEngine {
  readonly kind: "wasm" | "sidecar";
  /** Policy revision now in force (bundle manifest revision, or the configured label of a sidecar). */
  readonly revision: string;
  /** Evaluate data.mcp.authz.decision. Rejects with AuthzEngineError; never resolves to a malformed decision. */
  decide(input: AuthzInput): Promise<Decision>;
  /** Evaluate data.mcp.authz.filter once for a whole list; resolves to the visible targets. */
  filter(base: AuthzInput, items: readonly FilterItem[]): Promise<Set<string>>;
  /** Subscribe to policy reloads (wasm hot reload). Returns an unsubscribe function. */
  onReload(listener: (revision: string) => void): () => void;
  close(): Promise<void>;
}

export interface AuthzLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const stderrLogger: AuthzLogger = {
  info: (message, fields) => writeLog("info", message, fields),
  warn: (message, fields) => writeLog("warn", message, fields),
  error: (message, fields) => writeLog("error", message, fields),
};

function writeLog(level: string, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ "@timestamp": new Date().toISOString(), "log.level": level, message, ...fields })}\n`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Check an engine result is a decision; anything else is an engine failure (deny). */
export function toDecision(v: unknown): Decision {
  if (!isPlainObject(v)) throw new AuthzEngineError("malformed", "policy result is not an object (is data.mcp.authz.decision defined?)");
  if (typeof v.allow !== "boolean") throw new AuthzEngineError("malformed", 'policy result has no boolean "allow"');
  if (typeof v.reason !== "string") throw new AuthzEngineError("malformed", 'policy result has no string "reason"');
  if (v.conditional !== undefined && typeof v.conditional !== "boolean") {
    throw new AuthzEngineError("malformed", 'policy result "conditional" is not a boolean');
  }
  if (v.step_up !== undefined) {
    const s = v.step_up;
    if (
      !isPlainObject(s) ||
      (s.acr_values !== undefined && typeof s.acr_values !== "string") ||
      (s.max_age !== undefined && !(typeof s.max_age === "number" && Number.isInteger(s.max_age) && s.max_age >= 0))
    ) {
      throw new AuthzEngineError("malformed", 'policy result "step_up" is not {acr_values?: string, max_age?: integer}');
    }
  }
  return v as Decision;
}

/** Check a filter result is a list of strings. */
export function toTargetSet(v: unknown): Set<string> {
  if (!Array.isArray(v)) throw new AuthzEngineError("malformed", "filter result is not an array (is data.mcp.authz.filter defined?)");
  const out = new Set<string>();
  for (const t of v) {
    if (typeof t !== "string") throw new AuthzEngineError("malformed", "filter result holds a non-string");
    out.add(t);
  }
  return out;
}

/** The filter input: the list request's input plus the items. */
export function filterInput(base: AuthzInput, items: readonly FilterItem[]): AuthzInput & { items: readonly FilterItem[] } {
  return { ...base, items };
}
