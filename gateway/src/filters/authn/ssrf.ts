// SSRF guard for the URLs the authn stage fetches (metadata, JWKS, introspection, userinfo): https only
// (http on loopback when allowed), no private/link-local targets unless allowed, checked after DNS too.

import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";
import { Agent, fetch as undiciFetch } from "undici";
import { isLoopbackHost } from "../../config/schema-authn.ts";

export interface FetchPolicy {
  /** http:// allowed for loopback hosts (tests, a local IdP). */
  allowInsecureLoopback: boolean;
  /** Targets in RFC 1918 / ULA / link-local / CGNAT ranges allowed (an IdP inside the company network). */
  allowPrivateNetworks: boolean;
  timeoutMs: number;
}

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

// RFC 6890 special-purpose ranges a remote IdP never lives in; 169.254.169.254 (cloud metadata) is the classic target.
const privateRanges = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  privateRanges.addSubnet(net, bits, "ipv4");
}
for (const [net, bits] of [
  ["::", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  privateRanges.addSubnet(net, bits, "ipv6");
}

/** Why this address may not be fetched, or undefined when it may. */
export function addressRefusal(address: string, policy: FetchPolicy): string | undefined {
  let a = address;
  let family: "ipv4" | "ipv6" = isIP(a) === 6 ? "ipv6" : "ipv4";
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) must be judged as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) {
    a = mapped[1]!;
    family = "ipv4";
  }
  if (loopback.check(a, family)) return policy.allowInsecureLoopback || policy.allowPrivateNetworks ? undefined : "loopback address";
  if (privateRanges.check(a, family)) return policy.allowPrivateNetworks ? undefined : "private or link-local address";
  return undefined;
}

/** Throws when the URL may not be fetched under the policy (scheme, literal address). */
export function assertFetchableUrl(u: string | URL, policy: FetchPolicy, what = "URL"): URL {
  const url = typeof u === "string" ? new URL(u) : u;
  if (url.username || url.password) throw new Error(`${what} must not carry credentials`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (url.protocol === "http:") {
    if (!(policy.allowInsecureLoopback && isLoopbackHost(url.hostname))) {
      throw new Error(`${what} ${url.origin} must use https (http is allowed only on loopback with allowInsecureLoopback)`);
    }
  } else if (url.protocol !== "https:") {
    throw new Error(`${what} must be an https URL`);
  }
  if (isIP(host)) {
    const why = addressRefusal(host, policy);
    if (why) throw new Error(`${what} ${url.origin} points to a ${why}`);
  }
  return url;
}

export type GuardedFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * fetch that re-checks the policy on every URL and on every address DNS returns (so a name that
 * resolves to 169.254.169.254 or rebinds later is refused), never follows redirects, and times out.
 */
export function createGuardedFetch(policy: FetchPolicy): GuardedFetch & { close(): Promise<void> } {
  const agent = new Agent({
    connect: {
      lookup(hostname, options, callback) {
        dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
          if (err) return callback(err, "", 0);
          const list = addresses as LookupAddress[];
          for (const a of list) {
            const why = addressRefusal(a.address, policy);
            if (why) return callback(new Error(`${hostname} resolves to a ${why} (${a.address}); refused`), "", 0);
          }
          if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
          const first = list[0]!;
          callback(null, first.address, first.family);
        });
      },
    },
    connections: 16,
    keepAliveTimeout: 10_000,
  });
  const f = (async (url: string | URL, init?: RequestInit) => {
    assertFetchableUrl(url, policy);
    const signal = init?.signal
      ? AbortSignal.any([init.signal, AbortSignal.timeout(policy.timeoutMs)])
      : AbortSignal.timeout(policy.timeoutMs);
    const r = await undiciFetch(url, { ...(init as object), signal, redirect: "manual", dispatcher: agent } as never);
    return r as unknown as Response;
  }) as GuardedFetch & { close(): Promise<void> };
  f.close = () => agent.close();
  return f;
}

/** GET a JSON document with a size bound; throws on any failure (callers map that to "IdP unavailable"). */
export async function fetchJson(fetchFn: GuardedFetch, url: string, maxBytes = 1 << 20): Promise<Record<string, unknown>> {
  const r = await fetchFn(url, { headers: { accept: "application/json" } });
  if (r.status !== 200) {
    await r.body?.cancel();
    throw new Error(`GET ${url} answered ${r.status}`);
  }
  const len = Number(r.headers.get("content-length") ?? 0);
  if (len > maxBytes) {
    await r.body?.cancel();
    throw new Error(`GET ${url}: document larger than ${maxBytes} bytes`);
  }
  const text = await r.text();
  if (text.length > maxBytes) throw new Error(`GET ${url}: document larger than ${maxBytes} bytes`);
  const json = JSON.parse(text) as unknown;
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new Error(`GET ${url}: not a JSON object`);
  return json as Record<string, unknown>;
}
