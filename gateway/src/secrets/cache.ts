// The credential cache: bounded (lru-cache), TTL from the secret's lease or from config, refreshed in
// the background before expiry, served stale up to max-stale only while the store is unreachable.
//
// Rules (docs/credentials.md "Failure behaviour"):
//  - fresh (now < expiresAt): served; past refreshAt a single background refresh starts.
//  - expired: fetched again before answering. If the store is *unavailable* (down, sealed, timeout)
//    and now < staleUntil, the cached value is served; otherwise the error is raised.
//  - leased (dynamic) secrets: renewed at refreshAt while renewable; re-read when the lease cannot be
//    extended; never served past the lease end (the backend would refuse them anyway).
//  - the store answering *denied* / *not_found* drops the cached value at once: a revoked or
//    deleted credential stops being used (nothing is let through without its credential).

import { LRUCache } from "lru-cache";
import type { Secret } from "../config/secret.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import { describeRef, type FetchedSecret, type Lease, refKey, type SecretRef, type SecretSource } from "./sources.ts";
import { isSecretStoreError, SecretStoreError } from "./vault-errors.ts";

export interface CachePolicy {
  /** TTL (s) of a value without a lease; a KV v1 ttl hint or a lease shortens it. */
  readonly ttlSeconds: number;
  /** How long (s) past expiry a value may still be served while the store is unavailable. */
  readonly maxStaleSeconds: number;
  /** Fraction of the TTL after which a background refresh / lease renewal starts (0 < f < 1). */
  readonly refreshAhead: number;
}

export const DEFAULT_CACHE_POLICY: CachePolicy = { ttlSeconds: 300, maxStaleSeconds: 600, refreshAhead: 0.75 };

export type CacheEvent =
  | { readonly type: "miss" | "hit" | "loaded" | "refreshed" | "dropped"; readonly key: string }
  | { readonly type: "stale-served"; readonly key: string; readonly staleForMs: number }
  | { readonly type: "refresh-failed"; readonly key: string; readonly kind: string }
  | { readonly type: "lease-renewed"; readonly key: string; readonly ttlSeconds: number }
  | { readonly type: "lease-reread"; readonly key: string };

export interface SecretCacheOptions {
  readonly sources: Partial<Record<SecretRef["source"], SecretSource>>;
  readonly maxEntries?: number | undefined;
  readonly defaults?: CachePolicy | undefined;
  readonly logger?: Logger | undefined;
  readonly onEvent?: ((e: CacheEvent) => void) | undefined;
}

interface Entry {
  readonly key: string;
  readonly ref: SecretRef;
  readonly policy: CachePolicy;
  values: Readonly<Record<string, Secret>>;
  version: number | undefined;
  lease: Lease | undefined;
  fetchedAt: number;
  refreshAt: number;
  expiresAt: number;
  staleUntil: number;
  lastAccess: number;
  /** Last time the store was unavailable for this entry (cleared by a successful load). */
  failedAt: number | undefined;
  staleLoggedAt: number | undefined;
  /** Refresh in the background even without traffic (server-wide credentials warmed at start). */
  keepWarm: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** A value with its metadata, for callers that want the version or lease (tests, diagnostics). */
export interface CachedSecret {
  readonly values: Readonly<Record<string, Secret>>;
  readonly version: number | undefined;
  readonly lease: Lease | undefined;
  readonly stale: boolean;
}

/** While the store is down: background retry period, and the shortest gap between two probes. */
const RETRY_MS = 5_000;
const PROBE_MS = 1_000;

export class SecretCache {
  readonly #sources: SecretCacheOptions["sources"];
  readonly #defaults: CachePolicy;
  readonly #log: Logger;
  readonly #onEvent: SecretCacheOptions["onEvent"];
  readonly #lru: LRUCache<string, Entry>;
  readonly #inflight = new Map<string, Promise<Entry>>();
  #closed = false;

  constructor(opts: SecretCacheOptions) {
    this.#sources = opts.sources;
    this.#defaults = opts.defaults ?? DEFAULT_CACHE_POLICY;
    validatePolicy(this.#defaults);
    this.#log = opts.logger ?? silentLogger;
    this.#onEvent = opts.onEvent;
    this.#lru = new LRUCache<string, Entry>({
      max: opts.maxEntries ?? 1000,
      // An entry lives until its staleUntil; lru-cache removes it then, and evicts the least
      // recently used entry when full. Timers go with the entry.
      ttlAutopurge: false,
      dispose: (entry) => {
        if (entry.timer) clearTimeout(entry.timer);
        entry.timer = undefined;
      },
    });
  }

  /** The secret's values, from cache or the store. Throws SecretStoreError (never with a value in it). */
  async get(ref: SecretRef, policy?: CachePolicy, opts: { keepWarm?: boolean } = {}): Promise<CachedSecret> {
    const key = refKey(ref);
    const now = Date.now();
    const entry = this.#lru.get(key);
    if (entry) {
      entry.lastAccess = now;
      if (opts.keepWarm) entry.keepWarm = true;
      if (now < entry.expiresAt) {
        this.#emit({ type: "hit", key });
        if (now >= entry.refreshAt) void this.#refreshInBackground(entry);
        return view(entry, false);
      }
      // The store failed moments ago: serve the stale value at once instead of making every request
      // wait for another timeout; one background attempt at a time probes for recovery.
      if (entry.failedAt !== undefined && now - entry.failedAt < RETRY_MS && now < entry.staleUntil) {
        if (now - entry.failedAt >= PROBE_MS) void this.#refreshInBackground(entry);
        return this.#serveStale(entry, now);
      }
      try {
        return view(await this.#load(key, ref, entry.policy, entry), false);
      } catch (e) {
        const t = Date.now();
        if (isSecretStoreError(e) && e.kind === "unavailable" && t < entry.staleUntil && this.#lru.get(key) === entry) {
          entry.failedAt = t;
          return this.#serveStale(entry, t);
        }
        throw e;
      }
    }
    this.#emit({ type: "miss", key });
    const fresh = await this.#load(key, ref, policy ?? this.#defaults, undefined);
    if (opts.keepWarm) fresh.keepWarm = true;
    return view(fresh, false);
  }

  /**
   * Synchronous fast path for the request hot path: the values when cached and fresh (a refresh is
   * started in the background past refreshAt), otherwise undefined and the caller awaits get().
   * `key` lets callers with a fixed reference skip building it per request.
   */
  peekFresh(ref: SecretRef, key: string = refKey(ref)): Readonly<Record<string, Secret>> | undefined {
    const entry = this.#lru.get(key);
    if (!entry) return undefined;
    const now = Date.now();
    if (now >= entry.expiresAt) return undefined;
    entry.lastAccess = now;
    if (this.#onEvent) this.#emit({ type: "hit", key });
    if (now >= entry.refreshAt) void this.#refreshInBackground(entry);
    return entry.values;
  }

  get defaults(): CachePolicy {
    return this.#defaults;
  }

  #serveStale(entry: Entry, now: number): CachedSecret {
    const staleForMs = now - entry.expiresAt;
    this.#emit({ type: "stale-served", key: entry.key, staleForMs });
    // One warning per entry per retry period, not one per request.
    if (entry.staleLoggedAt === undefined || now - entry.staleLoggedAt >= RETRY_MS) {
      entry.staleLoggedAt = now;
      this.#log.warn("secret store unavailable; serving cached credential within max-stale", {
        "secret.ref": describeRef(entry.ref),
        "secret.stale_ms": staleForMs,
        "secret.stale_until_ms": entry.staleUntil - now,
      });
    }
    return view(entry, true);
  }

  /** Forget one secret (e.g. after the backend rejected it). */
  invalidate(ref: SecretRef): void {
    this.#lru.delete(refKey(ref));
  }

  get size(): number {
    return this.#lru.size;
  }

  close(): void {
    this.#closed = true;
    this.#lru.clear();
    for (const s of Object.values(this.#sources)) s?.close?.();
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────

  #emit(e: CacheEvent): void {
    this.#onEvent?.(e);
  }

  #source(ref: SecretRef): SecretSource {
    const s = this.#sources[ref.source];
    if (!s) throw new SecretStoreError("invalid", `no ${ref.source} secret source is configured`);
    return s;
  }

  /** Single flight per key: concurrent callers share one fetch. */
  #load(key: string, ref: SecretRef, policy: CachePolicy, previous: Entry | undefined): Promise<Entry> {
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#fetchAndStore(key, ref, policy, previous).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  async #fetchAndStore(key: string, ref: SecretRef, policy: CachePolicy, previous: Entry | undefined): Promise<Entry> {
    let fetched: FetchedSecret;
    try {
      fetched = await this.#source(ref).fetch(ref);
    } catch (e) {
      const err = isSecretStoreError(e) ? e : new SecretStoreError("unavailable", "secret source failed");
      if (err.kind !== "unavailable" && previous && this.#lru.get(key) === previous) {
        // Revoked, deleted or refused: stop using the old value now.
        this.#lru.delete(key);
        this.#emit({ type: "dropped", key });
        this.#log.warn("secret store refused or no longer has a cached credential; dropped it", {
          "secret.ref": describeRef(ref),
          "error.type": err.kind,
        });
      }
      throw err;
    }
    const now = Date.now();
    const entry: Entry = {
      key,
      ref,
      policy,
      values: fetched.values,
      version: fetched.version,
      lease: fetched.lease,
      fetchedAt: now,
      refreshAt: 0,
      expiresAt: 0,
      staleUntil: 0,
      lastAccess: previous?.lastAccess ?? now,
      failedAt: undefined,
      staleLoggedAt: undefined,
      keepWarm: previous?.keepWarm ?? false,
      timer: undefined,
    };
    setTimes(entry, now, fetched.lease ? fetched.lease.durationSeconds : Math.min(policy.ttlSeconds, fetched.ttlSeconds ?? Infinity));
    this.#store(entry);
    this.#emit({ type: previous ? "refreshed" : "loaded", key });
    return entry;
  }

  #store(entry: Entry): void {
    if (this.#closed) return;
    const ttl = Math.max(1, entry.staleUntil - Date.now());
    this.#lru.set(entry.key, entry, { ttl });
    this.#schedule(entry, entry.refreshAt - Date.now());
  }

  #schedule(entry: Entry, delayMs: number): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        // A capped (long) delay: wait again until the real refresh point.
        const early = entry.refreshAt - Date.now();
        if (early > 50) return this.#schedule(entry, early);
        // Idle per-user entries are left to lapse; active or warmed ones are refreshed ahead.
        if (entry.keepWarm || entry.lastAccess > entry.fetchedAt) void this.#refreshInBackground(entry);
      },
      // setTimeout overflows past 2^31-1 ms; cap at a day and re-arm.
      Math.min(86_400_000, Math.max(50, delayMs)),
    );
    entry.timer.unref();
  }

  async #refreshInBackground(entry: Entry): Promise<void> {
    if (this.#closed || this.#inflight.has(entry.key) || this.#lru.peek(entry.key) !== entry) return;
    const p = this.#refresh(entry).finally(() => this.#inflight.delete(entry.key));
    this.#inflight.set(entry.key, p);
    try {
      await p;
    } catch (e) {
      const kind = isSecretStoreError(e) ? e.kind : "unavailable";
      if (kind === "unavailable") entry.failedAt = Date.now();
      this.#emit({ type: "refresh-failed", key: entry.key, kind });
      this.#log.warn("background credential refresh failed", { "secret.ref": describeRef(entry.ref), "error.type": kind });
      // Keep trying while the value may still be served.
      const left = entry.staleUntil - Date.now();
      if (kind === "unavailable" && left > 0 && this.#lru.peek(entry.key) === entry) this.#schedule(entry, Math.min(RETRY_MS, left / 2));
    }
  }

  /** Renew a lease when possible, otherwise fetch again. */
  async #refresh(entry: Entry): Promise<Entry> {
    const lease = entry.lease;
    const source = this.#source(entry.ref);
    if (lease?.renewable && source.renew && Date.now() < entry.expiresAt) {
      try {
        const before = (entry.expiresAt - Date.now()) / 1000;
        const renewed = await source.renew(lease);
        // The lease's max TTL caps renewals: once a renewal no longer extends it, re-read
        // (a new credential) before the lease ends instead of renewing into expiry.
        if (renewed.durationSeconds > before + Math.min(1, before / 4)) {
          entry.lease = renewed;
          setTimes(entry, Date.now(), renewed.durationSeconds);
          this.#store(entry);
          this.#emit({ type: "lease-renewed", key: entry.key, ttlSeconds: renewed.durationSeconds });
          return entry;
        }
      } catch (e) {
        if (!isSecretStoreError(e) || e.kind === "unavailable") throw e;
        // denied / not_found on renew: the lease is gone; fall through to a fresh read.
      }
    }
    if (lease) this.#emit({ type: "lease-reread", key: entry.key });
    return this.#fetchAndStore(entry.key, entry.ref, entry.policy, entry);
  }
}

function setTimes(e: Entry, now: number, ttlSeconds: number): void {
  const ttlMs = Math.max(1, ttlSeconds * 1000);
  e.fetchedAt = now;
  e.expiresAt = now + ttlMs;
  e.refreshAt = now + ttlMs * e.policy.refreshAhead;
  // A leased credential is useless after its lease: no stale window past the lease end.
  e.staleUntil = e.lease ? e.expiresAt : e.expiresAt + e.policy.maxStaleSeconds * 1000;
}

function view(e: Entry, stale: boolean): CachedSecret {
  return { values: e.values, version: e.version, lease: e.lease, stale };
}

export function validatePolicy(p: CachePolicy): void {
  if (!(p.ttlSeconds > 0)) throw new Error("cache ttlSeconds must be > 0");
  if (!(p.maxStaleSeconds >= 0)) throw new Error("cache maxStaleSeconds must be >= 0");
  if (!(p.refreshAhead > 0 && p.refreshAhead < 1)) throw new Error("cache refreshAhead must be between 0 and 1");
}
