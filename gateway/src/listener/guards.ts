// Host and Origin validation against DNS rebinding and cross-site requests (MCP transports,
// "Security Warning"; 2025-11-25: 403 for an Origin that is not allowed).

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_NAMES.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Host name of a Host header value (port removed; IPv6 keeps its brackets), parsed by the WHATWG URL
 * parser; undefined for anything that is not exactly `uri-host [ ":" port ]` (RFC 9110 §7.2), such as
 * `localhost:1@evil.example` (userinfo), a path, or a port that is not a number.
 */
export function hostName(hostHeader: string): string | undefined {
  const h = hostHeader.trim();
  if (h === "" || /[\s/\\?#@]/.test(h)) return undefined;
  let u: URL;
  try {
    u = new URL(`http://${h}`);
  } catch {
    return undefined;
  }
  if (u.username !== "" || u.password !== "" || u.pathname !== "/" || u.search !== "" || u.hash !== "") return undefined;
  // The port as written must be digits (the URL parser would drop a default ":80" but keep the rest).
  const end = h.startsWith("[") ? h.indexOf("]") + 1 : h.lastIndexOf(":") === -1 ? h.length : h.lastIndexOf(":");
  const port = h.slice(end);
  if (port !== "" && !/^:\d{1,5}$/.test(port)) return undefined;
  return u.hostname.toLowerCase();
}

export interface GuardOptions {
  listenHost: string;
  allowedHosts: string[] | undefined;
  allowedOrigins: string[];
  publicBaseUrl: string | undefined;
}

const HOST_VERDICTS_MAX = 256;

export class Guards {
  /** undefined = any Host accepted (non-loopback listener with nothing configured). */
  readonly #hosts: Set<string> | undefined;
  readonly #origins: Set<string>;
  readonly #loopbackOrigins: boolean;
  /** Verdicts by raw Host value: a client sends the same one on every request, and the URL parse costs µs. */
  readonly #hostVerdicts = new Map<string, boolean>();

  constructor(o: GuardOptions) {
    const loopback = isLoopbackHost(o.listenHost);
    if (o.allowedHosts) this.#hosts = new Set(o.allowedHosts.map((h) => hostName(h) ?? h.toLowerCase()));
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
    let ok = this.#hostVerdicts.get(host);
    if (ok === undefined) {
      const name = hostName(host);
      ok = name !== undefined && this.#hosts.has(name);
      // Bounded: Host is the caller's to choose, so a flood of distinct values just stops being memoised.
      if (this.#hostVerdicts.size < HOST_VERDICTS_MAX) this.#hostVerdicts.set(host, ok);
    }
    return ok;
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
