// Host and Origin validation against DNS rebinding and cross-site requests (MCP transports,
// "Security Warning"; 2025-11-25: 403 for an Origin that is not allowed).

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Host name of a Host header value (port removed; IPv6 keeps its brackets). */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

export interface GuardOptions {
  listenHost: string;
  allowedHosts: string[] | undefined;
  allowedOrigins: string[];
  publicBaseUrl: string | undefined;
}

export class Guards {
  /** undefined = any Host accepted (non-loopback listener with nothing configured). */
  readonly #hosts: Set<string> | undefined;
  readonly #origins: Set<string>;
  readonly #loopbackOrigins: boolean;

  constructor(o: GuardOptions) {
    const loopback = isLoopbackHost(o.listenHost);
    if (o.allowedHosts) this.#hosts = new Set(o.allowedHosts.map((h) => hostName(h)));
    else if (o.publicBaseUrl) this.#hosts = new Set([new URL(o.publicBaseUrl).hostname.toLowerCase(), ...(loopback ? LOOPBACK_NAMES : [])]);
    else if (loopback) this.#hosts = new Set(LOOPBACK_NAMES);
    else this.#hosts = undefined;
    this.#origins = new Set(o.allowedOrigins.map((x) => x.toLowerCase().replace(/\/$/, "")));
    if (o.publicBaseUrl) this.#origins.add(new URL(o.publicBaseUrl).origin.toLowerCase());
    this.#loopbackOrigins = loopback;
  }

  hostAllowed(host: string | undefined): boolean {
    if (!this.#hosts) return true;
    if (!host) return false;
    return this.#hosts.has(hostName(host));
  }

  /** Requests without Origin (non-browser clients) pass; a present Origin must be allowed. */
  originAllowed(origin: string | undefined): boolean {
    if (origin === undefined) return true;
    const o = origin.toLowerCase();
    if (this.#origins.has(o)) return true;
    if (this.#loopbackOrigins) {
      try {
        const u = new URL(o);
        return (u.protocol === "http:" || u.protocol === "https:") && isLoopbackHost(u.hostname);
      } catch {
        return false;
      }
    }
    return false;
  }
}
