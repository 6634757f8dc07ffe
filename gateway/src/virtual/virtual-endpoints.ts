// The /mcp/{virtual} endpoints: one SDK Streamable HTTP transport and server per virtual session, sealed
// session ids bound to the caller's principal, bounded by an LRU with an idle timeout (docs/virtual-servers.md).
// Loaded by virtual-routes.ts on the first virtual request: the SDK server and client stay out of other gateways.

import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { LRUCache } from "lru-cache";
import type { Principal } from "../chain/types.ts";
import type { VirtualServerConfig } from "../config/schema-virtual.ts";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { SessionSealer } from "../session/sealed-session.ts";
import type { ModernVirtual } from "./virtual-modern.ts";
import { VirtualSession } from "./virtual-session.ts";

/** Headers of the caller's request that its member requests carry: the credential and the trace. */
const PASSED = ["authorization", "traceparent", "tracestate", "baggage"];

export interface VirtualEndpointsOptions {
  readonly servers: Readonly<Record<string, VirtualServerConfig>>;
  readonly sealer: SessionSealer;
  readonly ttlSeconds: number;
  readonly requestTimeoutMs: number;
  readonly gatewayUrl: () => string;
  /** The API key header the authn stage also reads (auth.apiKeyHeader), passed on like Authorization. */
  readonly apiKeyHeader?: string;
  readonly logger: Logger;
  readonly version?: string;
}

interface Held {
  readonly owner: string;
  readonly transport: StreamableHTTPServerTransport | SSEServerTransport;
  readonly session: VirtualSession;
}

/** Who a session belongs to: the principal's issuer and subject (anonymous on a loopback gateway without auth). */
function ownerOf(p: Principal | undefined): string {
  return createHash("sha256")
    .update(p ? `${p.iss}\n${p.sub}` : "anonymous")
    .digest("base64url");
}

export class VirtualEndpoints {
  readonly #o: VirtualEndpointsOptions;
  readonly #sessions = new Map<string, LRUCache<string, Held>>();
  readonly #reported = new Map<string, Set<string>>();
  /** 2026-07-28 callers, per virtual server (stateless: no virtual session); the 2.x SDK loads on first use. */
  readonly #modern = new Map<string, Promise<ModernVirtual>>();
  readonly #instance = randomBytes(6).toString("base64url");
  #closing = false;

  constructor(o: VirtualEndpointsOptions) {
    this.#o = o;
    for (const [name, v] of Object.entries(o.servers)) {
      this.#reported.set(name, new Set());
      this.#sessions.set(
        name,
        new LRUCache<string, Held>({
          max: v.maxSessions,
          ttl: v.idleSeconds * 1000,
          updateAgeOnGet: true,
          ttlAutopurge: true,
          dispose: (h) => {
            if (!this.#closing) void this.#end(h);
          },
        }),
      );
    }
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#o.servers, name);
  }

  get names(): string[] {
    return Object.keys(this.#o.servers);
  }

  #modernOf(name: string): Promise<ModernVirtual> {
    let m = this.#modern.get(name);
    if (!m) {
      const o = this.#o;
      m = import("./virtual-modern.ts").then(
        ({ ModernVirtual }) =>
          new ModernVirtual({
            name,
            config: o.servers[name]!,
            gatewayUrl: o.gatewayUrl,
            passed: o.apiKeyHeader ? [...PASSED, o.apiKeyHeader] : PASSED,
            logger: o.logger,
            reported: this.#reported.get(name)!,
            version: o.version ?? "1.0.0",
          }),
      );
      this.#modern.set(name, m);
    }
    return m;
  }

  /** A new virtual session's SDK server and member fan-out (its transport is attached by the caller). */
  #open(name: string, req: IncomingMessage): { server: Server; session: VirtualSession } {
    const v = this.#o.servers[name]!;
    const server = new Server(
      { name, version: this.#o.version ?? "1.0.0" },
      {
        capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true } },
        instructions: v.description,
      },
    );
    const session = new VirtualSession(server, {
      virtual: name,
      members: v.servers,
      separator: v.separator,
      retryDownMs: v.retryDownMs,
      requestTimeoutMs: this.#o.requestTimeoutMs,
      gatewayUrl: this.#o.gatewayUrl,
      version: this.#o.version ?? "1.0.0",
      logger: this.#o.logger,
      reported: this.#reported.get(name)!,
    });
    session.headers = this.#headersOf(req);
    return { server, session };
  }

  /**
   * The 2024-11-05 HTTP+SSE transport: GET /sse opens a virtual session on its event stream (the SDK announces
   * /message?sessionId=…); POST /message carries the caller's messages. The session is bound to the principal.
   */
  async #legacy(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    principal: Principal | undefined,
    body: unknown,
    fail: (e: GatewayError) => void,
    sub: string,
  ): Promise<void> {
    const sessions = this.#sessions.get(name)!;
    const owner = ownerOf(principal);
    if (sub === "/message") {
      const id = new URL(req.url ?? "/", "http://x").searchParams.get("sessionId");
      if (!id) return fail(new GatewayError("SESSION_REQUIRED"));
      const held = sessions.get(`sse:${id}`);
      if (!held || held.owner !== owner || !(held.transport instanceof SSEServerTransport))
        return fail(new GatewayError("SESSION_NOT_FOUND"));
      held.session.headers = this.#headersOf(req);
      await held.transport.handlePostMessage(req, res, body);
      return;
    }
    const { server, session } = this.#open(name, req);
    const transport = new SSEServerTransport(`/mcp/${encodeURIComponent(name)}/message`, res);
    const key = `sse:${transport.sessionId}`;
    sessions.set(key, { owner, transport, session });
    transport.onclose = () => {
      if (sessions.peek(key)?.transport === transport) sessions.delete(key);
    };
    await server.connect(transport);
  }

  async #end(h: Held): Promise<void> {
    await h.session.close().catch(() => {});
    await h.transport.close().catch(() => {});
  }

  #headersOf(req: IncomingMessage): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of this.#o.apiKeyHeader ? [...PASSED, this.#o.apiKeyHeader] : PASSED) {
      const v = req.headers[k];
      if (typeof v === "string") out[k] = v;
    }
    return out;
  }

  /**
   * Serve one request on /mcp/{name}, already authenticated (`principal`). `body` is the parsed POST body;
   * a refusal goes out through `fail` (the listener's documented error replies).
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    principal: Principal | undefined,
    body: unknown,
    fail: (e: GatewayError) => void,
    legacy?: string,
  ): Promise<void> {
    if (legacy) return this.#legacy(req, res, name, principal, body, fail, legacy);
    const sessions = this.#sessions.get(name)!;
    if (req.headers["mcp-protocol-version"] === "2026-07-28") return (await this.#modernOf(name)).serve(req, res, body);
    const owner = ownerOf(principal);
    const sid = req.headers["mcp-session-id"];
    if (typeof sid === "string") {
      const claims = this.#o.sealer.open(sid);
      const held = claims?.srv === name ? sessions.get(sid) : undefined;
      // Another caller's session id is answered like an unknown one: nothing tells it exists.
      if (!held || held.owner !== owner || !(held.transport instanceof StreamableHTTPServerTransport))
        return fail(new GatewayError("SESSION_NOT_FOUND"));
      held.session.headers = this.#headersOf(req);
      await held.transport.handleRequest(req, res, body);
      if (req.method === "DELETE") sessions.delete(sid);
      return;
    }
    if (req.method !== "POST" || !isInitializeRequest(body)) return fail(new GatewayError("SESSION_REQUIRED"));
    const pv =
      typeof (body as { params?: { protocolVersion?: unknown } }).params?.protocolVersion === "string"
        ? (body as { params: { protocolVersion: string } }).params.protocolVersion
        : "";
    const { server, session } = this.#open(name, req);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      // Sealed like a relayed session's id: the route, the owner, the expiry; the member sessions stay in
      // this process (they are opened lazily, after the id is given out), which `bind` records.
      sessionIdGenerator: () =>
        this.#o.sealer.seal({
          srv: name,
          pv,
          exp: Math.floor(Date.now() / 1000) + this.#o.ttlSeconds,
          sub: principal?.sub,
          iss: principal?.iss,
          bind: `${this.#instance}:virtual`,
        }),
      onsessioninitialized: (id) => void sessions.set(id, { owner, transport, session }),
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id && sessions.peek(id)?.transport === transport) sessions.delete(id);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  /** End every virtual session and its member sessions (while the gateway still listens: they end through it). */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#modern.values()].map((m) => m.then((x) => x.close()).catch(() => {})));
    const all: Held[] = [];
    for (const s of this.#sessions.values()) {
      all.push(...s.values());
      s.clear();
    }
    // Bounded: a member that does not answer its DELETE must not hold the shutdown.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(all.map((h) => this.#end(h))),
      new Promise<void>((r) => {
        timer = setTimeout(r, 5000);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}
