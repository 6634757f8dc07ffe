// The decision service the filter calls: engine + decision cache + decision log + shadow policy.
// Engine failures become denies here (fail closed); the shadow engine is logged, never enforced.

import { LRUCache } from "lru-cache";
import { decisionKey, filterKey } from "./cache-key.ts";
import {
  buildRecord,
  DEFAULT_REDACT_KEYS,
  type DecisionLogOptions,
  type DecisionLogRecord,
  type DecisionLogSink,
  flushStdoutSink,
  loggedInput,
  stdoutSink,
} from "./decision-log.ts";
import {
  type AuthzEngine,
  AuthzEngineError,
  type AuthzInput,
  type AuthzLogger,
  type Decision,
  type FilterItem,
  stderrLogger,
} from "./types.ts";

export interface AuthorizerOptions {
  engine: AuthzEngine;
  /** Candidate policy evaluated beside the enforced one; disagreements are logged, never enforced. */
  shadow?: AuthzEngine | undefined;
  /** ttlMs 0 disables the cache. Defaults: 2000 ms, 10 000 entries, 16 MiB of keys. */
  cache?: { ttlMs?: number; max?: number; maxBytes?: number };
  decisionLog?: Partial<DecisionLogOptions>;
  /** Where decision-log records go (default: JSON line on stdout). */
  sink?: DecisionLogSink;
  logger?: AuthzLogger;
  /** Most shadow evaluations in flight; more are skipped (counted), so a slow shadow cannot pile up. */
  shadowConcurrency?: number;
}

/** Where a decision came from, for the filter, logs and span attributes. */
export interface Outcome {
  readonly decision: Decision;
  readonly cached: boolean;
  /** Set when the engine failed: the decision is then a deny and the reply is AUTHZ_UNAVAILABLE. */
  readonly error: AuthzEngineError | undefined;
  readonly revision: string;
}

export interface FilterOutcome {
  /** Visible targets; undefined when the engine failed (the list must then be refused). */
  readonly allowed: Set<string> | undefined;
  readonly cached: boolean;
  readonly error: AuthzEngineError | undefined;
  readonly revision: string;
}

export interface DecideContext {
  traceId?: string | undefined;
  spanId?: string | undefined;
}

export interface AuthorizerStats {
  decisions: number;
  cacheHits: number;
  errors: number;
  shadowEvaluated: number;
  shadowDisagreements: number;
  shadowErrors: number;
  shadowSkipped: number;
}

const DECISION_PATH = "mcp/authz/decision";
const FILTER_PATH = "mcp/authz/filter";
/** Entries bigger than this (huge arguments) are evaluated every time rather than cached. */
const MAX_ENTRY_BYTES = 64 * 1024;

function toEngineError(e: unknown): AuthzEngineError {
  return e instanceof AuthzEngineError ? e : new AuthzEngineError("unavailable", e instanceof Error ? e.message : String(e), { cause: e });
}

function sameDecision(a: Decision, b: Decision): boolean {
  return (
    a.allow === b.allow && (a.step_up === undefined) === (b.step_up === undefined) && (a.conditional ?? false) === (b.conditional ?? false)
  );
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

export class Authorizer {
  readonly engine: AuthzEngine;
  readonly shadow: AuthzEngine | undefined;
  readonly stats: AuthorizerStats = {
    decisions: 0,
    cacheHits: 0,
    errors: 0,
    shadowEvaluated: 0,
    shadowDisagreements: 0,
    shadowErrors: 0,
    shadowSkipped: 0,
  };
  readonly #cache: LRUCache<string, Decision | Set<string>> | undefined;
  readonly #log: DecisionLogOptions;
  readonly #sink: DecisionLogSink;
  readonly #logger: AuthzLogger;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #shadowLimit: number;
  #shadowInFlight = 0;
  #sinkFailed = false;

  constructor(opts: AuthorizerOptions) {
    this.engine = opts.engine;
    this.shadow = opts.shadow;
    const ttl = opts.cache?.ttlMs ?? 2000;
    if (ttl > 0) {
      this.#cache = new LRUCache<string, Decision | Set<string>>({
        max: opts.cache?.max ?? 10_000,
        ttl,
        maxSize: opts.cache?.maxBytes ?? 16 * 1024 * 1024,
        maxEntrySize: MAX_ENTRY_BYTES,
        sizeCalculation: (_v, k) => k.length + 64,
        // TTL checked on read; no timers on the hot path.
        ttlAutopurge: false,
      });
    }
    const labels = { app: "mcp-gateway", engine: this.engine.kind, ...opts.decisionLog?.labels };
    this.#log = {
      enabled: opts.decisionLog?.enabled ?? true,
      includeArguments: opts.decisionLog?.includeArguments ?? false,
      includeClaims: opts.decisionLog?.includeClaims ?? false,
      redact: opts.decisionLog?.redact ?? [],
      redactKeys: opts.decisionLog && "redactKeys" in opts.decisionLog ? opts.decisionLog.redactKeys : DEFAULT_REDACT_KEYS,
      labels,
    };
    this.#sink = opts.sink ?? stdoutSink;
    this.#logger = opts.logger ?? stderrLogger;
    this.#shadowLimit = opts.shadowConcurrency ?? 32;
    // A new policy invalidates every cached answer (the whole point of a reload).
    this.#unsubscribe.push(this.engine.onReload(() => this.flush()));
    if (this.shadow) this.#unsubscribe.push(this.shadow.onReload(() => this.flush()));
  }

  get revision(): string {
    return this.engine.revision;
  }

  /** Drop every cached decision (policy reload). */
  flush(): void {
    this.#cache?.clear();
  }

  async decide(input: AuthzInput, ctx: DecideContext = {}): Promise<Outcome> {
    const t0 = performance.now();
    this.stats.decisions++;
    let key: string | undefined;
    if (this.#cache) {
      try {
        key = decisionKey(input);
      } catch {
        key = undefined; // e.g. arguments nested too deep to serialise: evaluate uncached
      }
      const hit = key === undefined ? undefined : this.#cache.get(key);
      if (hit !== undefined && !(hit instanceof Set)) {
        this.stats.cacheHits++;
        const out: Outcome = { decision: hit, cached: true, error: undefined, revision: this.engine.revision };
        this.#record(DECISION_PATH, input, out.decision, hit, out, { timer_authz_decision_ns: ns(t0) }, ctx);
        return out;
      }
    }
    const revision = this.engine.revision;
    let decision: Decision;
    let error: AuthzEngineError | undefined;
    const te = performance.now();
    try {
      decision = await this.engine.decide(input);
    } catch (e) {
      error = toEngineError(e);
      this.stats.errors++;
      decision = { allow: false, reason: `authorization engine ${error.kind}: ${error.message}` };
    }
    const evalNs = ns(te);
    // Only cache answers computed by the policy now in force (a reload may have happened meanwhile).
    if (!error && key !== undefined && revision === this.engine.revision) this.#cache?.set(key, decision);
    const out: Outcome = { decision, cached: false, error, revision };
    this.#record(
      DECISION_PATH,
      input,
      decision,
      error ? undefined : decision,
      out,
      { timer_rego_query_eval_ns: evalNs, timer_authz_decision_ns: ns(t0) },
      ctx,
    );
    if (this.shadow) this.#shadowDecide(input, decision, ctx);
    return out;
  }

  async filter(base: AuthzInput, items: readonly FilterItem[], ctx: DecideContext = {}): Promise<FilterOutcome> {
    const t0 = performance.now();
    let key: string | undefined;
    if (this.#cache) {
      try {
        key = filterKey(base, items);
      } catch {
        key = undefined;
      }
      const hit = key === undefined ? undefined : this.#cache.get(key);
      if (hit instanceof Set) {
        this.stats.cacheHits++;
        const out: FilterOutcome = { allowed: hit, cached: true, error: undefined, revision: this.engine.revision };
        this.#recordFilter(base, items, out, { timer_authz_decision_ns: ns(t0) }, ctx);
        return out;
      }
    }
    const revision = this.engine.revision;
    let allowed: Set<string> | undefined;
    let error: AuthzEngineError | undefined;
    const te = performance.now();
    try {
      allowed = await this.engine.filter(base, items);
    } catch (e) {
      error = toEngineError(e);
      this.stats.errors++;
    }
    const evalNs = ns(te);
    if (allowed && key !== undefined && revision === this.engine.revision) this.#cache?.set(key, allowed);
    const out: FilterOutcome = { allowed, cached: false, error, revision };
    this.#recordFilter(base, items, out, { timer_rego_query_eval_ns: evalNs, timer_authz_decision_ns: ns(t0) }, ctx);
    if (this.shadow && allowed) this.#shadowFilter(base, items, allowed, ctx);
    return out;
  }

  #record(
    path: string,
    input: AuthzInput,
    decision: Decision,
    result: unknown,
    out: { cached: boolean; error: AuthzEngineError | undefined; revision: string },
    metrics: Record<string, number>,
    ctx: DecideContext,
    extra?: Partial<DecisionLogRecord>,
  ): void {
    if (!this.#log.enabled) return;
    const record = buildRecord({
      path,
      input,
      logged: loggedInput(input, this.#log),
      result,
      decision,
      revision: out.revision,
      engine: this.engine.kind,
      cached: out.cached,
      ...(out.error ? { error: out.error.kind } : {}),
      metrics,
      labels: this.#log.labels,
      trace: ctx.traceId && ctx.spanId ? { traceId: ctx.traceId, spanId: ctx.spanId } : undefined,
    });
    this.#emit(extra ? { ...record, ...extra } : record);
  }

  #recordFilter(
    base: AuthzInput,
    items: readonly FilterItem[],
    out: FilterOutcome,
    metrics: Record<string, number>,
    ctx: DecideContext,
    extra?: Partial<DecisionLogRecord>,
  ): void {
    if (!this.#log.enabled) return;
    const visible = out.allowed ? [...out.allowed].sort() : undefined;
    const decision: Decision = out.allowed
      ? { allow: true, reason: `${visible!.length} of ${items.length} items visible` }
      : { allow: false, reason: `authorization engine ${out.error?.kind}: ${out.error?.message}` };
    this.#record(FILTER_PATH, { ...base, items } as AuthzInput, decision, visible, out, metrics, ctx, extra);
  }

  #emit(record: DecisionLogRecord): void {
    try {
      this.#sink(record);
    } catch (e) {
      if (!this.#sinkFailed) {
        this.#sinkFailed = true;
        this.#logger.error("authz: decision log sink failed (reported once)", { "error.message": (e as Error).message });
      }
    }
  }

  #shadowSlot(): boolean {
    if (this.#shadowInFlight >= this.#shadowLimit) {
      this.stats.shadowSkipped++;
      return false;
    }
    this.#shadowInFlight++;
    this.stats.shadowEvaluated++;
    return true;
  }

  #shadowDecide(input: AuthzInput, enforced: Decision, ctx: DecideContext): void {
    const shadow = this.shadow!;
    if (!this.#shadowSlot()) return;
    const t0 = performance.now();
    shadow
      .decide(input)
      .then(
        (d) => {
          if (sameDecision(d, enforced)) return;
          this.stats.shadowDisagreements++;
          this.#recordShadow(DECISION_PATH, input, enforced, { revision: shadow.revision, result: d }, t0, ctx);
        },
        (e) => {
          this.stats.shadowErrors++;
          this.#recordShadow(DECISION_PATH, input, enforced, { revision: shadow.revision, error: toEngineError(e).message }, t0, ctx);
        },
      )
      .finally(() => this.#shadowInFlight--);
  }

  #shadowFilter(base: AuthzInput, items: readonly FilterItem[], enforced: Set<string>, ctx: DecideContext): void {
    const shadow = this.shadow!;
    if (!this.#shadowSlot()) return;
    const t0 = performance.now();
    const input = { ...base, items } as AuthzInput;
    const result = [...enforced].sort();
    const decision: Decision = { allow: true, reason: `${result.length} of ${items.length} items visible` };
    shadow
      .filter(base, items)
      .then(
        (s) => {
          if (sameSet(s, enforced)) return;
          this.stats.shadowDisagreements++;
          this.#recordShadow(FILTER_PATH, input, decision, { revision: shadow.revision, result: [...s].sort() }, t0, ctx, result);
        },
        (e) => {
          this.stats.shadowErrors++;
          this.#recordShadow(FILTER_PATH, input, decision, { revision: shadow.revision, error: toEngineError(e).message }, t0, ctx, result);
        },
      )
      .finally(() => this.#shadowInFlight--);
  }

  /** A disagreement record: the enforced result as `result`, the shadow's under `shadow`. */
  #recordShadow(
    path: string,
    input: AuthzInput,
    enforced: Decision,
    shadow: DecisionLogRecord["shadow"],
    t0: number,
    ctx: DecideContext,
    result?: unknown,
  ): void {
    this.#logger.warn("authz: shadow policy disagrees with the enforced policy", {
      "authz.path": path,
      "authz.server": input.server,
      "authz.method": input.method,
      "authz.target": input.target,
      "authz.shadow_revision": shadow?.revision,
      "trace.id": ctx.traceId,
      "span.id": ctx.spanId,
    });
    this.#record(
      path,
      input,
      enforced,
      result ?? enforced,
      { cached: false, error: undefined, revision: this.engine.revision },
      { timer_shadow_eval_ns: ns(t0) },
      ctx,
      { shadow, labels: { ...this.#log.labels, shadow: "true" } },
    );
  }

  async close(): Promise<void> {
    for (const u of this.#unsubscribe) u();
    this.#cache?.clear();
    await Promise.all([this.engine.close(), this.shadow?.close(), this.#sink === stdoutSink ? flushStdoutSink() : undefined]);
  }
}

function ns(start: number): number {
  return Math.round((performance.now() - start) * 1e6);
}
