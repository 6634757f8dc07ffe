// The credential cache with a scripted in-memory source: TTL, background refresh, max-stale while
// the store is down then the error, drop on denied/not_found, lease renewal then re-read.

import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../../src/config/secret.ts";
import { jsonLogger } from "../../src/logger.ts";
import { type CacheEvent, SecretCache } from "../../src/secrets/cache.ts";
import type { FetchedSecret, Lease, SecretRef, SecretSource } from "../../src/secrets/sources.ts";
import { type SecretErrorKind, SecretStoreError } from "../../src/secrets/vault-errors.ts";
import { OutputCapture } from "./secret-scan.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REF: SecretRef = { source: "vault", engine: "kv-v2", mount: "secret", path: "api/x" };

class ScriptedSource implements SecretSource {
  readonly kind = "vault" as const;
  fetches = 0;
  renews = 0;
  failWith: SecretErrorKind | undefined;
  value = "tok-v1-8f3a9c2e71";
  lease: Lease | undefined;
  renewTo: number | undefined;
  async fetch(_ref: SecretRef): Promise<FetchedSecret> {
    this.fetches++;
    if (this.failWith) throw new SecretStoreError(this.failWith, `scripted ${this.failWith}`);
    return { values: { token: new Secret(this.value) }, lease: this.lease, ttlSeconds: this.lease?.durationSeconds };
  }
  async renew(lease: Lease): Promise<Lease> {
    this.renews++;
    if (this.failWith) throw new SecretStoreError(this.failWith, "scripted");
    return { ...lease, durationSeconds: this.renewTo ?? lease.durationSeconds };
  }
}

let caches: SecretCache[] = [];
afterEach(() => {
  for (const c of caches) c.close();
  caches = [];
});

function make(src: ScriptedSource, policy: { ttlSeconds: number; maxStaleSeconds: number; refreshAhead: number }, cap?: OutputCapture) {
  const events: CacheEvent[] = [];
  const c = new SecretCache({
    sources: { vault: src },
    defaults: policy,
    logger: cap ? jsonLogger("debug", cap.write) : undefined,
    onEvent: (e) => events.push(e),
  });
  caches.push(c);
  return { c, events };
}

describe("SecretCache", () => {
  it("serves from cache within the TTL and single-flights concurrent misses", async () => {
    const src = new ScriptedSource();
    const { c } = make(src, { ttlSeconds: 60, maxStaleSeconds: 0, refreshAhead: 0.9 });
    const [a, b] = await Promise.all([c.get(REF), c.get(REF)]);
    expect(a.values.token?.reveal()).toBe("tok-v1-8f3a9c2e71");
    expect(b.values.token?.reveal()).toBe("tok-v1-8f3a9c2e71");
    await c.get(REF);
    expect(src.fetches).toBe(1);
    expect(c.peekFresh(REF)?.token?.reveal()).toBe("tok-v1-8f3a9c2e71");
  });

  it("refreshes in the background before expiry (keepWarm, no traffic needed)", async () => {
    const src = new ScriptedSource();
    const { c, events } = make(src, { ttlSeconds: 0.4, maxStaleSeconds: 0, refreshAhead: 0.5 });
    await c.get(REF, undefined, { keepWarm: true });
    src.value = "v2";
    await sleep(300);
    expect(events.some((e) => e.type === "refreshed")).toBe(true);
    expect(c.peekFresh(REF)?.token?.reveal()).toBe("v2");
  });

  it("store down: stale value within max-stale, then the error; refused values are dropped", async () => {
    const src = new ScriptedSource();
    const cap = new OutputCapture();
    const { c, events } = make(src, { ttlSeconds: 0.2, maxStaleSeconds: 0.4, refreshAhead: 0.99 }, cap);
    await c.get(REF);
    src.failWith = "unavailable";
    await sleep(250); // expired, inside max-stale
    const stale = await c.get(REF);
    expect(stale.stale).toBe(true);
    expect(stale.values.token?.reveal()).toBe("tok-v1-8f3a9c2e71");
    expect(events.some((e) => e.type === "stale-served")).toBe(true);
    await sleep(450); // past max-stale
    await expect(c.get(REF)).rejects.toMatchObject({ kind: "unavailable" });
    // Store back: fresh value again.
    src.failWith = undefined;
    src.value = "tok-v3-4b6d0e19aa";
    expect((await c.get(REF)).values.token?.reveal()).toBe("tok-v3-4b6d0e19aa");
    // Denied is not "down": the cached value is dropped at once, no stale serving.
    await sleep(250);
    src.failWith = "denied";
    await expect(c.get(REF)).rejects.toMatchObject({ kind: "denied" });
    expect(c.size).toBe(0);
    cap.add(...events);
    expect(cap.items.length).toBeGreaterThan(2); // warnings were logged …
    cap.assertClean(["tok-v1-8f3a9c2e71", "tok-v3-4b6d0e19aa"]); // … without the values
  });

  it("renews a renewable lease, then re-reads once renewal stops extending it", async () => {
    const src = new ScriptedSource();
    src.lease = { id: "db/creds/ro/abc", durationSeconds: 0.4, renewable: true };
    src.renewTo = 0.4;
    const { c, events } = make(src, { ttlSeconds: 60, maxStaleSeconds: 60, refreshAhead: 0.5 });
    await c.get(REF);
    // Keep it "active" so the background timer acts.
    const t = setInterval(() => c.peekFresh(REF), 50);
    await sleep(330);
    expect(events.filter((e) => e.type === "lease-renewed").length).toBeGreaterThanOrEqual(1);
    // Max TTL reached: renewal no longer extends the lease → new credential before the lease ends.
    src.renewTo = 0.05;
    src.value = "rotated";
    await sleep(400);
    clearInterval(t);
    expect(events.some((e) => e.type === "lease-reread")).toBe(true);
    expect(src.fetches).toBeGreaterThanOrEqual(2);
    expect((await c.get(REF)).values.token?.reveal()).toBe("rotated");
  });

  it("never serves a leased value past its lease end, even with max-stale", async () => {
    const src = new ScriptedSource();
    src.lease = { id: "pki/issue/r/1", durationSeconds: 0.2, renewable: false };
    const { c } = make(src, { ttlSeconds: 60, maxStaleSeconds: 60, refreshAhead: 0.99 });
    await c.get(REF);
    src.failWith = "unavailable";
    await sleep(260);
    await expect(c.get(REF)).rejects.toMatchObject({ kind: "unavailable" });
  });

  it("is bounded (lru)", async () => {
    const src = new ScriptedSource();
    const c = new SecretCache({ sources: { vault: src }, maxEntries: 3 });
    caches.push(c);
    for (let i = 0; i < 10; i++) await c.get({ ...REF, path: `users/u${i}/x` } as SecretRef);
    expect(c.size).toBe(3);
  });
});

describe("SecretCache while the store is down", () => {
  it("serves stale at once after a failure (no per-request wait), probes at most once a second, logs once", async () => {
    class SlowDown extends ScriptedSource {
      override async fetch(ref: SecretRef): Promise<FetchedSecret> {
        if (this.failWith) {
          this.fetches++;
          await sleep(150); // a store that hangs until the client times out
          throw new SecretStoreError("unavailable", "timeout");
        }
        return super.fetch(ref);
      }
    }
    const src = new SlowDown();
    const cap = new OutputCapture();
    const { c } = make(src, { ttlSeconds: 0.1, maxStaleSeconds: 30, refreshAhead: 0.99 }, cap);
    await c.get(REF);
    src.failWith = "unavailable";
    await sleep(150);
    const before = src.fetches;
    const first = await c.get(REF); // pays one timeout
    expect(first.stale).toBe(true);
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) expect((await c.get(REF)).stale).toBe(true);
    expect(Date.now() - t0).toBeLessThan(100); // none of the 50 waited for the store
    expect(src.fetches - before).toBeLessThanOrEqual(2);
    const warnings = cap.items.filter((l) => String(l).includes("serving cached credential"));
    expect(warnings).toHaveLength(1);
  });
});
