// One backend client per distinct credential set, for adapters that get credentials per request: clients
// are reused (so their tokens are), bounded in number, and keyed by a hash so no credential is a cache key.

import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { LRUCache } from "lru-cache";

export interface ClientCacheOptions<Auth, Client> {
  /** Clients kept at most (default 100); the least recently used goes first. */
  max?: number | undefined;
  /** Credentials used when a request brings none (stdio, or an adapter run without the gateway). */
  fallback?: Auth | undefined;
  /** The error thrown when there are no credentials at all. */
  missing(): Error;
  /** A new client for credentials not seen yet. */
  make(auth: Auth): Client;
}

/** `clients(auth)`: the client for `auth` (or the fallback), made once per distinct credential set. */
export function clientCache<Auth extends object, Client extends object>(
  o: ClientCacheOptions<Auth, Client>,
): (auth: Auth | undefined) => Client {
  const cache = new LRUCache<string, Client>({ max: o.max ?? 100 });
  return (auth) => {
    const a = auth ?? o.fallback;
    if (!a) throw o.missing();
    const key = createHash("sha256").update(JSON.stringify(a)).digest("hex");
    let c = cache.get(key);
    if (!c) {
      c = o.make(a);
      cache.set(key, c);
    }
    return c;
  };
}

/** A header's value when it is given once and not empty. */
export function headerValue(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}
