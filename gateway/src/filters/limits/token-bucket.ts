// Token buckets: in this process (a bounded LRU of buckets), or in Redis (one atomic Lua script per
// take, on the server's clock) so that every replica draws from the same bucket.

import { LRUCache } from "lru-cache";
import type { SharedStore } from "../../state/redis.ts";

export interface Buckets {
  /** Take one token: 0 when granted, else the milliseconds until one is available (sync when local). */
  take(key: string, ratePerSecond: number, burst: number): number | Promise<number>;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class LocalBuckets implements Buckets {
  // A bucket not used for a while is full again: forgetting it (LRU) loses nothing but memory.
  readonly #buckets: LRUCache<string, Bucket>;
  readonly #now: () => number;

  constructor(max = 100_000, now: () => number = () => performance.now()) {
    this.#buckets = new LRUCache({ max });
    this.#now = now;
  }

  take(key: string, rate: number, burst: number): number {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (!b) {
      b = { tokens: burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / rate);
  }
}

// KEYS[1] bucket; ARGV rate (per s), burst. The server's clock (TIME), so replicas' clocks never matter.
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tk', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
`;

export class RedisBuckets implements Buckets {
  readonly #store: SharedStore;

  constructor(store: SharedStore) {
    this.#store = store;
  }

  take(key: string, rate: number, burst: number): Promise<number> {
    return this.#store.run(async (c) => {
      const r = await c.eval(TAKE, { keys: [`${this.#store.prefix}rate:${key}`], arguments: [String(rate), String(burst)] });
      return Number(r);
    });
  }
}
