// The REST bridge's MCP sessions: one SDK client per (caller credential, route), connected to this
// gateway's own /mcp/{route} endpoint, reused across REST requests and closed when idle (bounded LRU).

import { createHash } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { ServerCapabilities, Tool } from "@modelcontextprotocol/sdk/types.js";
import { LRUCache } from "lru-cache";

/** The last HTTP error the gateway answered a session's request with (status, challenge, JSON-RPC body). */
export interface HttpFailure {
  readonly status: number;
  readonly wwwAuthenticate: string | undefined;
  readonly body: string;
}

/** Opening a session failed; carries what the gateway answered (the 401 challenge, the error code). */
export class SessionOpenError extends Error {
  readonly failure: HttpFailure | undefined;
  constructor(cause: unknown, failure: HttpFailure | undefined) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "SessionOpenError";
    this.failure = failure;
  }
}

export interface BridgeSession {
  readonly route: string;
  readonly client: Client;
  readonly transport: StreamableHTTPClientTransport;
  /** Set by the transport's fetch when the gateway answered with an HTTP error. */
  lastFailure: HttpFailure | undefined;
  tools: { readonly at: number; readonly list: Tool[] } | undefined;
  capabilities: ServerCapabilities | undefined;
}

export interface BridgeSessionsOptions {
  /** The gateway's own base URL (known once it listens). */
  readonly gatewayUrl: () => string;
  readonly idleMs: number;
  readonly max: number;
  readonly version: string;
}

/**
 * Headers of the REST request that go on every MCP request of the session: only the credential. The trace
 * context is per request and travels in `params._meta` (RestBridge), or every call would join the first one's trace.
 */
const PASSED = ["authorization"] as const;

export class BridgeSessions {
  readonly #o: BridgeSessionsOptions;
  readonly #open: LRUCache<string, Promise<BridgeSession>>;
  #closing = false;

  constructor(o: BridgeSessionsOptions) {
    this.#o = o;
    this.#open = new LRUCache<string, Promise<BridgeSession>>({
      max: o.max,
      ttl: o.idleMs,
      // Idle time counts from the last use, not from the opening.
      updateAgeOnGet: true,
      ttlAutopurge: true,
      dispose: (p) => {
        if (!this.#closing)
          void p.then(
            (s) => end(s),
            () => {},
          );
      },
    });
  }

  /**
   * The key is a hash of the caller's credential: the gateway binds each MCP session to the verified principal,
   * so a session is only ever usable with the credential that opened it; a renewed token opens a new one.
   */
  static key(route: string, authorization: string | undefined): string {
    return createHash("sha256")
      .update(`${route}\n${authorization ?? ""}`)
      .digest("base64url");
  }

  /** The caller's session for `route`, opened (initialize through the whole chain) when there is none. */
  get(route: string, headers: Readonly<Record<string, string | string[] | undefined>>): Promise<BridgeSession> {
    const auth = typeof headers.authorization === "string" ? headers.authorization : undefined;
    const key = BridgeSessions.key(route, auth);
    let p = this.#open.get(key);
    if (!p) {
      p = this.#connect(route, headers);
      this.#open.set(key, p);
      // A failed opening is not kept: the next request tries again (e.g. with a renewed token).
      p.catch(() => {
        if (this.#open.peek(key) === p) this.#open.delete(key);
      });
    }
    return p;
  }

  /** Forget (and close) a session the gateway no longer knows (expired, ended). */
  drop(route: string, authorization: string | undefined): void {
    this.#open.delete(BridgeSessions.key(route, authorization));
  }

  get size(): number {
    return this.#open.size;
  }

  async #connect(route: string, headers: Readonly<Record<string, string | string[] | undefined>>): Promise<BridgeSession> {
    const pass: Record<string, string> = {};
    for (const h of PASSED) {
      const v = headers[h];
      if (typeof v === "string") pass[h] = v;
    }
    const url = new URL(`${this.#o.gatewayUrl()}/mcp/${encodeURIComponent(route)}`);
    const session: Partial<BridgeSession> & { lastFailure: HttpFailure | undefined } = { route, lastFailure: undefined };
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: pass },
      // Keeps what the gateway answered when it refused a request: the status, its challenge and its error code.
      fetch: async (input, init) => {
        const r = await fetch(input, init);
        if (r.status >= 400) {
          const body = await r.text();
          session.lastFailure = { status: r.status, wwwAuthenticate: r.headers.get("www-authenticate") ?? undefined, body };
          return new Response(body, { status: r.status, statusText: r.statusText, headers: r.headers });
        }
        return r;
      },
    });
    const client = new Client({ name: "mcp-edge-rest-bridge", version: this.#o.version }, { capabilities: {} });
    Object.assign(session, { client, transport, tools: undefined, capabilities: undefined });
    try {
      await client.connect(transport);
    } catch (e) {
      throw new SessionOpenError(e, session.lastFailure);
    }
    session.capabilities = client.getServerCapabilities();
    return session as BridgeSession;
  }

  /** Closes every session (DELETE through the gateway, so the backend session ends too). */
  async close(): Promise<void> {
    this.#closing = true;
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (s) => end(s),
          () => {},
        ),
      ),
    );
  }
}

async function end(s: BridgeSession): Promise<void> {
  try {
    await s.transport.terminateSession();
  } catch {
    /* the gateway may already be gone */
  }
  await s.client.close().catch(() => {});
}
