// The limits stage: token-bucket rates per principal × route × tool, requests in flight per principal
// and per route, open sessions and GET streams per principal (and streams per session). Runs after
// authz, so a denied caller spends no one's quota. A refusal is 429 + Retry-After, counted by reason.

import { onExchangeDone } from "../../chain/exchange-done.ts";
import type { Exchange, Filter, LocalReply } from "../../chain/types.ts";
import type { RpcMessage } from "../../codec/jsonrpc.ts";
import { channels } from "../../diagnostics.ts";
import { type ErrorCode, GatewayError } from "../../errors.ts";
import type { RateConfig, RouteLimits } from "./schema.ts";
import type { Buckets } from "./token-bucket.ts";

export interface LimitsConfig {
  rate?: RateConfig | undefined;
  routes: Record<string, RouteLimits>;
  maxConcurrentPerPrincipal?: number | undefined;
  maxConcurrentPerRoute?: number | undefined;
  maxSessionsPerPrincipal?: number | undefined;
  sessionIdleSeconds: number;
  maxStreamsPerPrincipal?: number | undefined;
  maxStreamsPerSession?: number | undefined;
}

/** Whether any limit of the stage is configured (no filter at all otherwise: zero cost). */
export function limitsConfigured(c: LimitsConfig): boolean {
  return (
    c.rate !== undefined ||
    Object.values(c.routes).some((r) => r.rate !== undefined || Object.keys(r.tools).length > 0 || r.maxConcurrent !== undefined) ||
    c.maxConcurrentPerPrincipal !== undefined ||
    c.maxConcurrentPerRoute !== undefined ||
    c.maxSessionsPerPrincipal !== undefined ||
    c.maxStreamsPerPrincipal !== undefined ||
    c.maxStreamsPerSession !== undefined
  );
}

const PRINCIPAL_KEY: unique symbol = Symbol("limits.principal");

/** Who a limit counts: the verified subject, or the client address of an anonymous (loopback) caller. */
function principalKey(ex: Exchange): string {
  let k = ex.vars.get(PRINCIPAL_KEY) as string | undefined;
  if (k === undefined) {
    const p = ex.principal;
    k = p ? `${p.iss}\u0000${p.sub}` : `anon\u0000${ex.clientAddress}`;
    ex.vars.set(PRINCIPAL_KEY, k);
  }
  return k;
}

interface Resolved {
  readonly rate: number;
  readonly burst: number;
}

function resolve(r: RateConfig): Resolved {
  return { rate: r.requestsPerSecond, burst: r.burst ?? Math.max(1, Math.ceil(2 * r.requestsPerSecond)) };
}

class Counter {
  readonly #n = new Map<string, number>();
  get(k: string): number {
    return this.#n.get(k) ?? 0;
  }
  inc(k: string): void {
    this.#n.set(k, this.get(k) + 1);
  }
  dec(k: string): void {
    const v = this.get(k) - 1;
    if (v <= 0) this.#n.delete(k);
    else this.#n.set(k, v);
  }
}

export interface LimitsFilter extends Filter {
  /** Open sessions counted for a principal key (tests, admin). */
  sessionsOf(ex: Exchange): number;
}

export function createLimitsFilter(config: LimitsConfig, buckets: Buckets): LimitsFilter {
  const defaultRate = config.rate ? resolve(config.rate) : undefined;
  // Per route: its own default, and per tool. Built once; the request path does two Map lookups.
  const routeRate = new Map<string, Resolved | undefined>();
  const toolRate = new Map<string, Map<string, Resolved>>();
  const routeMax = new Map<string, number | undefined>();
  for (const [name, r] of Object.entries(config.routes)) {
    routeRate.set(name, r.rate ? resolve(r.rate) : defaultRate);
    toolRate.set(name, new Map(Object.entries(r.tools).map(([t, c]) => [t, resolve(c)])));
    routeMax.set(name, r.maxConcurrent ?? config.maxConcurrentPerRoute);
  }
  const inflightByPrincipal = new Counter();
  const inflightByRoute = new Counter();
  const streamsByPrincipal = new Counter();
  const streamsBySession = new Counter();
  /** principal → (session id → last use, ms). */
  const sessions = new Map<string, Map<string, number>>();
  const idleMs = config.sessionIdleSeconds * 1000;

  function refuse(ex: Exchange, code: ErrorCode, detail: string, retryAfterMs: number): LocalReply {
    if (channels.error.hasSubscribers) channels.error.publish({ gatewayId: ex.gatewayId, server: ex.server, code, detail, exchange: ex });
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return {
      error: new GatewayError(code, detail).withData({ retryAfterSeconds: seconds }),
      status: 429,
      headers: { "retry-after": String(seconds) },
    };
  }

  function liveSessions(pk: string, now: number): Map<string, number> | undefined {
    const m = sessions.get(pk);
    if (!m) return undefined;
    for (const [sid, at] of m) if (now - at > idleMs) m.delete(sid);
    if (m.size === 0) sessions.delete(pk);
    return m.size ? m : undefined;
  }

  function onPost(ex: Exchange): LocalReply | undefined {
    const pk = principalKey(ex);
    if (ex.sessionId !== undefined && config.maxSessionsPerPrincipal !== undefined) {
      const m = sessions.get(pk);
      if (m?.has(ex.sessionId)) m.set(ex.sessionId, Date.now());
    }
    const opening = ex.messages.some((m) => m.kind === "request" && m.method === "initialize");
    if (opening && config.maxSessionsPerPrincipal !== undefined) {
      const now = Date.now();
      const open = liveSessions(pk, now)?.size ?? 0;
      if (open >= config.maxSessionsPerPrincipal) {
        return refuse(ex, "SESSION_LIMIT", `${open} sessions open; the limit is ${config.maxSessionsPerPrincipal}`, 60_000);
      }
      onExchangeDone(ex, () => {
        if (!ex.sessionId) return;
        let m = sessions.get(pk);
        if (!m) {
          m = new Map();
          sessions.set(pk, m);
        }
        m.set(ex.sessionId, Date.now());
      });
    }
    if (!ex.messages.some((m) => m.kind === "request")) return undefined;
    const maxP = config.maxConcurrentPerPrincipal;
    const maxR = routeMax.has(ex.server) ? routeMax.get(ex.server) : config.maxConcurrentPerRoute;
    if (maxP === undefined && maxR === undefined) return undefined;
    if (maxP !== undefined && inflightByPrincipal.get(pk) >= maxP) {
      return refuse(ex, "CONCURRENCY_LIMITED", `${maxP} requests in flight for this caller`, 1000);
    }
    if (maxR !== undefined && inflightByRoute.get(ex.server) >= maxR) {
      return refuse(ex, "CONCURRENCY_LIMITED", `${maxR} requests in flight on this route`, 1000);
    }
    inflightByPrincipal.inc(pk);
    inflightByRoute.inc(ex.server);
    onExchangeDone(ex, () => {
      inflightByPrincipal.dec(pk);
      inflightByRoute.dec(ex.server);
    });
    return undefined;
  }

  function onGet(ex: Exchange): LocalReply | undefined {
    const maxP = config.maxStreamsPerPrincipal;
    const maxS = config.maxStreamsPerSession;
    if (maxP === undefined && maxS === undefined) return undefined;
    const pk = principalKey(ex);
    const sk = ex.sessionId ?? "";
    if (maxP !== undefined && streamsByPrincipal.get(pk) >= maxP) {
      return refuse(ex, "STREAM_LIMIT", `${maxP} streams open for this caller`, 5000);
    }
    if (maxS !== undefined && sk && streamsBySession.get(sk) >= maxS) {
      return refuse(ex, "STREAM_LIMIT", `${maxS} streams open on this session`, 5000);
    }
    streamsByPrincipal.inc(pk);
    if (sk) streamsBySession.inc(sk);
    onExchangeDone(ex, () => {
      streamsByPrincipal.dec(pk);
      if (sk) streamsBySession.dec(sk);
    });
    return undefined;
  }

  function rateFor(ex: Exchange, msg: RpcMessage): Resolved | undefined {
    if (msg.method === "tools/call" && msg.target !== undefined) {
      const t = toolRate.get(ex.server)?.get(msg.target);
      if (t) return t;
    }
    return routeRate.has(ex.server) ? routeRate.get(ex.server) : defaultRate;
  }

  const rated = defaultRate !== undefined || [...routeRate.values()].some(Boolean) || [...toolRate.values()].some((m) => m.size > 0);

  return {
    name: "limits",
    stage: "limits",

    onRequest(ex) {
      if (ex.httpMethod === "POST") return onPost(ex);
      if (ex.httpMethod === "GET") return onGet(ex);
      if (ex.httpMethod === "DELETE" && ex.sessionId !== undefined) {
        const pk = principalKey(ex);
        const m = sessions.get(pk);
        if (m?.delete(ex.sessionId) && m.size === 0) sessions.delete(pk);
      }
      return undefined;
    },

    ...(rated
      ? {
          onMessage(ex: Exchange, msg: RpcMessage) {
            if (msg.kind !== "request") return undefined;
            const r = rateFor(ex, msg);
            if (!r) return undefined;
            const what = msg.method === "tools/call" && msg.target !== undefined ? msg.target : msg.method!;
            const key = `${principalKey(ex)}\u0000${ex.server}\u0000${what}`;
            const wait = buckets.take(key, r.rate, r.burst);
            const verdict = (ms: number): LocalReply | undefined =>
              ms === 0 ? undefined : refuse(ex, "RATE_LIMITED", `${r.rate}/s with a burst of ${r.burst} for "${what.slice(0, 64)}"`, ms);
            if (typeof wait === "number") return verdict(wait);
            return wait.then(verdict, (e: unknown) => ({
              error: e instanceof GatewayError ? e : new GatewayError("STATE_STORE_UNAVAILABLE"),
            }));
          },
        }
      : {}),

    sessionsOf(ex) {
      return liveSessions(principalKey(ex), Date.now())?.size ?? 0;
    },
  };
}
