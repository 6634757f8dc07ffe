// Ended sessions (DELETE, or lost by the backend): their ids are refused until the session's own
// expiry. In this process by default; in Redis when configured, so every replica refuses them at once.

import { createHash } from "node:crypto";
import type { SharedStore } from "../state/redis.ts";

export interface RevocationStore {
  /** Refuse `sessionId` from now until `expSeconds` (the session's own expiry, seconds since the epoch). */
  revoke(sessionId: string, expSeconds: number): Promise<void>;
  /** Whether the id was revoked: sync when known here, a Promise when the shared store must be asked. */
  isRevoked(sessionId: string): boolean | Promise<boolean>;
  /** Revoked as far as this process knows (no round trip). */
  knownRevoked(sessionId: string): boolean;
  close(): Promise<void>;
}

/** The store key of a session id: a hash, since the id itself is a bearer credential. */
function keyOf(sessionId: string): string {
  return createHash("sha256").update(sessionId).digest("base64url").slice(0, 32);
}

/** Revocations kept in this process, each until its session would have expired anyway. */
export class MemoryRevocations implements RevocationStore {
  readonly #exp = new Map<string, number>();
  readonly #max: number;
  #inserts = 0;

  constructor(maxEntries = 1_000_000) {
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#exp.size;
  }

  add(sessionId: string, expSeconds: number): void {
    if (++this.#inserts % 1024 === 0 || this.#exp.size >= this.#max) this.#sweep();
    // Still full of live revocations: the one closest to its expiry goes (Map order is insertion order,
    // and sessions share one TTL, so the first entry is the oldest).
    if (this.#exp.size >= this.#max) this.#exp.delete(this.#exp.keys().next().value as string);
    this.#exp.set(keyOf(sessionId), expSeconds);
  }

  async revoke(sessionId: string, expSeconds: number): Promise<void> {
    this.add(sessionId, expSeconds);
  }

  knownRevoked(sessionId: string): boolean {
    // Nothing revoked (the usual case): no hash on the request path.
    if (this.#exp.size === 0) return false;
    const k = keyOf(sessionId);
    const exp = this.#exp.get(k);
    if (exp === undefined) return false;
    if (exp > Date.now() / 1000) return true;
    this.#exp.delete(k);
    return false;
  }

  isRevoked(sessionId: string): boolean {
    return this.knownRevoked(sessionId);
  }

  #sweep(): void {
    const now = Date.now() / 1000;
    for (const [k, exp] of this.#exp) if (exp <= now) this.#exp.delete(k);
  }

  async close(): Promise<void> {}
}

/**
 * Revocations in Redis (`SET <prefix>revoked:<hash> 1 EXAT <exp>`), so a session ended on one replica
 * is refused by all. What this process revoked or saw revoked is remembered locally (no round trip
 * then); anything else costs one EXISTS. An unreachable store refuses the request (fail closed).
 */
export class RedisRevocations implements RevocationStore {
  readonly #store: SharedStore;
  readonly #local = new MemoryRevocations(100_000);

  constructor(store: SharedStore) {
    this.#store = store;
  }

  async revoke(sessionId: string, expSeconds: number): Promise<void> {
    this.#local.add(sessionId, expSeconds);
    const exp = Math.max(Math.ceil(expSeconds), Math.floor(Date.now() / 1000) + 1);
    await this.#store.run((c) =>
      c.set(`${this.#store.prefix}revoked:${keyOf(sessionId)}`, "1", { expiration: { type: "EXAT", value: exp } }),
    );
  }

  knownRevoked(sessionId: string): boolean {
    return this.#local.knownRevoked(sessionId);
  }

  isRevoked(sessionId: string): boolean | Promise<boolean> {
    if (this.#local.knownRevoked(sessionId)) return true;
    const key = `${this.#store.prefix}revoked:${keyOf(sessionId)}`; // one hash per uncached check (a round trip follows anyway)
    return this.#store.run(async (c) => {
      const ttl = await c.pTTL(key);
      if (ttl === -2) return false;
      // Remember it until the key's own expiry (pTTL -1 = no expiry: a day, re-checked after).
      this.#local.add(sessionId, Date.now() / 1000 + (ttl > 0 ? ttl / 1000 : 86_400));
      return true;
    });
  }

  async close(): Promise<void> {}
}
