// The downstream HTTP listener: routes, guards, body limits, and the writers that turn a relay
// Outcome into Streamable HTTP (JSON or SSE) or into events on a legacy 2024-11-05 SSE stream.

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { exchangeDone } from "../chain/exchange-done.ts";
import type { LocalReply } from "../chain/types.ts";
import { errorResponse } from "../codec/jsonrpc.ts";
import { accepts, isJsonContentType } from "../codec/media-type.ts";
import { formatSse } from "../codec/sse.ts";
import { GatewayError } from "../errors.ts";
import { publishRefusal } from "../log/refusals.ts";
import type { Logger } from "../logger.ts";
import { ExchangeImpl, type Outcome, type OutEvent, type Relay, type Route } from "../relay.ts";
import type { SessionStage } from "../session/session-stage.ts";
import { localBinding, localKey } from "../upstream/channel.ts";
import type { UpstreamSession } from "../upstream/types.ts";
import type { VirtualRoutes } from "../virtual/virtual-routes.ts";
import type { Guards } from "./guards.ts";
import { type BodyLimits, drainBody, readBodyTimed } from "./timed-body.ts";

/** Extra endpoints mounted by other parts (protected resource metadata, /metrics). */
export interface ExtraRoute {
  /** Exact path, or a prefix ending in "/". */
  readonly path: string;
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}

export interface ListenerOptions {
  /** Identity of this gateway on its diagnostics events. */
  gatewayId: string;
  relay: Relay;
  sessions: SessionStage;
  guards: Guards;
  routes: ReadonlyMap<string, Route>;
  logger: Logger;
  maxBodyBytes: number;
  /** Body time limits (ms) and the size drained from a request refused from its headers. */
  bodyIdleTimeoutMs?: number;
  bodyTimeoutMs?: number;
  unauthenticatedBodyBytes?: number;
  /** A legacy SSE connection on which no session is opened within this long is closed (ms; 0 = never). */
  streamIdleTimeoutMs?: number;
  extraRoutes: ExtraRoute[];
  isReady(): boolean;
  /** Virtual servers (gateway/src/virtual): /mcp/{virtual} routes composing several servers. */
  virtual?: VirtualRoutes;
}

const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", connection: "keep-alive" };
const KEEPALIVE_MS = 25_000;
const CORS_EXPOSE = "mcp-session-id, mcp-protocol-version, www-authenticate";
const CORS_ALLOW = "content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name";

function sendJson(res: ServerResponse, status: number, body: string, headers?: Record<string, string>): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Per response: the gateway and route it belongs to, for the refusal record (a property, not a side table). */
const REFUSAL_CONTEXT: unique symbol = Symbol("mcp-gateway.refusal-context");
type WithContext = ServerResponse & { [REFUSAL_CONTEXT]?: { gatewayId: string; server?: string } };

function sendError(res: ServerResponse, reply: LocalReply, id?: string | number, ex?: ExchangeImpl): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = reply.status ?? reply.error.spec.http;
  // A refusal that no message event records (nothing parsed, or nothing published) gets its own audit record.
  if (!ex?.traceEvent) {
    const c = (res as WithContext)[REFUSAL_CONTEXT];
    publishRefusal(res.req, reply.error.code, status, c?.gatewayId, c?.server, ex?.principal);
  }
  sendJson(res, status, JSON.stringify(errorResponse(id, reply.error.toRpcError())), reply.headers);
}

function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "";
}

/** Accept must list both JSON and SSE for POST (Streamable HTTP, "Sending Messages to the Server"). */
function acceptsPost(accept: string | undefined): boolean {
  return accepts(accept, "application", "json") && accepts(accept, "text", "event-stream");
}

function singleId(ex: ExchangeImpl): string | number | undefined {
  return ex.messages.length === 1 && ex.messages[0]!.kind === "request" ? ex.messages[0]!.id : undefined;
}

/** A 2024-11-05 client's SSE connection: answers and server messages go here; POSTs answer 202. */
class LegacyDownstream {
  readonly key: string;
  readonly res: ServerResponse;
  readonly route: Route;
  readonly token: string;
  protocolVersion = "2024-11-05";
  upstreamSession: UpstreamSession | undefined;
  listening = false;
  closed = false;
  readonly #cancels = new Set<(r: GatewayError) => void>();

  constructor(key: string, res: ServerResponse, route: Route, token: string) {
    this.key = key;
    this.res = res;
    this.route = route;
    this.token = token;
  }

  write(data: string): void {
    if (!this.closed) this.res.write(formatSse({ event: "message", data, id: undefined }));
  }

  /**
   * Pipe one answer's events onto the connection as they arrive. Answers are not queued behind each
   * other (issue 10, bug 3: a ping waited for a long call, and two calls whose server requests crossed
   * deadlocked); each event is written whole, so concurrent answers interleave only between events.
   */
  pipe(events: AsyncIterable<OutEvent>, cancel: (r: GatewayError) => void): void {
    this.#cancels.add(cancel);
    void (async () => {
      try {
        for await (const ev of events) {
          if (this.closed) break;
          if (ev.data !== undefined) this.write(ev.data);
        }
      } catch {
        /* the relay already answered every request with an error event */
      } finally {
        this.#cancels.delete(cancel);
      }
    })();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const reason = new GatewayError("UPSTREAM_CLOSED", "client disconnected");
    for (const c of this.#cancels) c(reason);
    this.#cancels.clear();
    if (!this.res.writableEnded) this.res.end();
  }
}

export class Listener {
  readonly #o: ListenerOptions;
  readonly #legacy = new Map<string, LegacyDownstream>();
  readonly #streams = new Set<ServerResponse>();
  #inflight = 0;

  readonly #body: BodyLimits;
  readonly #drain: BodyLimits;

  constructor(o: ListenerOptions) {
    this.#o = o;
    this.#body = { maxBytes: o.maxBodyBytes, idleMs: o.bodyIdleTimeoutMs ?? 10_000, totalMs: o.bodyTimeoutMs ?? 30_000 };
    this.#drain = { ...this.#body, maxBytes: Math.min(o.unauthenticatedBodyBytes ?? 65_536, o.maxBodyBytes) };
  }

  /** A body that could not be read: the documented error, and the connection is not kept. */
  #bodyFailed(res: ServerResponse, e: unknown): void {
    res.setHeader("connection", "close");
    sendError(res, { error: e instanceof GatewayError ? e : new GatewayError("INVALID_REQUEST", "could not read the body") });
  }

  /**
   * Authenticate from the headers before any byte of the body is read: an anonymous caller costs at most
   * a small drained body, within the body time limits. Returns true when the request was answered.
   */
  async #refusedFromHeaders(req: IncomingMessage, res: ServerResponse, ex: ExchangeImpl): Promise<boolean> {
    const v = this.#o.relay.authenticate(ex);
    const reply = v instanceof Promise ? await v : v;
    if (!reply) {
      ex.authenticated = true;
      return false;
    }
    const drained = await drainBody(req, this.#drain);
    if (!drained) res.setHeader("connection", "close");
    sendError(res, reply, undefined, ex);
    return true;
  }

  /** Requests being answered right now (shutdown waits for them). */
  get inflight(): number {
    return this.#inflight;
  }

  /** The node:http request handler. Never throws: every failure becomes a documented error reply. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#inflight++;
    (res as WithContext)[REFUSAL_CONTEXT] = { gatewayId: this.#o.gatewayId };
    res.once("close", () => this.#inflight--);
    this.#dispatch(req, res).catch((e) => {
      this.#o.logger.error("unhandled error while serving a request", {
        "error.message": (e as Error)?.message,
        "url.path": req.url?.split("?")[0],
      });
      sendError(res, { error: new GatewayError("INTERNAL_ERROR") });
    });
  };

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    // /healthz, /readyz and /metrics are on the admin listener (admin-server.ts): this port serves MCP only.
    const g = this.#o.guards;
    if (!g.hostAllowed(req.headers.host)) return sendError(res, { error: new GatewayError("HOST_FORBIDDEN") });
    // Extra endpoints (OAuth metadata, /metrics) are not MCP: they answer any Origin (no credentials involved).
    for (const r of this.#o.extraRoutes) {
      if (path === r.path || (r.path.endsWith("/") && path.startsWith(r.path))) return r.handle(req, res);
    }
    const origin = req.headers.origin;
    if (!g.originAllowed(origin)) return sendError(res, { error: new GatewayError("ORIGIN_FORBIDDEN") });
    if (origin !== undefined) {
      // CORS for browser-based MCP clients, only ever for an Origin the guard allowed.
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", CORS_EXPOSE);
      res.setHeader("vary", "Origin");
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-methods": "GET, POST, DELETE",
          "access-control-allow-headers": req.headers["access-control-request-headers"] ?? CORS_ALLOW,
          "access-control-max-age": "600",
        });
        res.end();
        return;
      }
    }

    if (path.startsWith("/mcp/")) {
      const rest = path.slice(5);
      const slash = rest.indexOf("/");
      let name: string;
      try {
        name = decodeURIComponent(slash === -1 ? rest : rest.slice(0, slash));
      } catch {
        // Anyone can send this, before authentication: a 400, and at most a debug line (no log flood).
        this.#o.logger.debug("malformed percent-escape in the route", { "url.path": path.slice(0, 128) });
        return sendError(res, { error: new GatewayError("BAD_ROUTE") });
      }
      const sub = slash === -1 ? "" : rest.slice(slash);
      const route = this.#o.routes.get(name);
      if (route) (res as WithContext)[REFUSAL_CONTEXT]!.server = route.name;
      if (!route && this.#o.virtual?.has(name)) return this.#virtual(req, res, name, sub);
      if (!route) return sendError(res, { error: new GatewayError("UNKNOWN_SERVER", `"${name.slice(0, 64)}"`) });
      if (!this.#o.isReady()) return sendError(res, { error: new GatewayError("SHUTTING_DOWN") });
      if (sub === "" || sub === "/") return this.#streamable(req, res, route);
      if (sub === "/sse") return this.#legacyOpen(req, res, route);
      if (sub === "/message") return this.#legacyPost(req, res, route, q === -1 ? "" : url.slice(q + 1));
      return sendError(res, { error: new GatewayError("NOT_FOUND") });
    }
    return sendError(res, { error: new GatewayError("NOT_FOUND") });
  }

  /** A virtual server (gateway/src/virtual): authenticated here from the headers, then served by its own MCP server. */
  async #virtual(req: IncomingMessage, res: ServerResponse, name: string, sub: string): Promise<void> {
    (res as WithContext)[REFUSAL_CONTEXT]!.server = name;
    if (!this.#o.isReady()) return sendError(res, { error: new GatewayError("SHUTTING_DOWN") });
    // Streamable HTTP on the route itself; the 2024-11-05 HTTP+SSE pair on /sse (GET) and /message (POST).
    const legacy = sub === "/sse" ? "GET" : sub === "/message" ? "POST" : undefined;
    if (sub !== "" && sub !== "/" && !legacy) return sendError(res, { error: new GatewayError("NOT_FOUND") });
    const method = req.method === "POST" || req.method === "GET" || req.method === "DELETE" ? req.method : undefined;
    if (!method || (legacy && method !== legacy)) return sendError(res, { error: new GatewayError("NOT_FOUND") });
    const ex = new ExchangeImpl(name, "streamable-http", method, req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
    res.once("close", () => exchangeDone(ex));
    if (await this.#refusedFromHeaders(req, res, ex)) return;
    let body: unknown;
    if (method === "POST") {
      if (!isJsonContentType(req.headers["content-type"])) return sendError(res, { error: new GatewayError("UNSUPPORTED_MEDIA_TYPE") });
      let text: string;
      try {
        text = await readBodyTimed(req, this.#body);
      } catch (e) {
        return this.#bodyFailed(res, e);
      }
      try {
        body = JSON.parse(text);
      } catch {
        return sendError(res, { error: new GatewayError("PARSE_ERROR") });
      }
    }
    return this.#o.virtual!.handle(req, res, name, ex.principal, body, (error) => sendError(res, { error }), legacy ? sub : undefined);
  }

  /** Streamable HTTP: POST messages, GET stream, DELETE session. */
  async #streamable(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    const relay = this.#o.relay;
    const method = req.method;
    if (method === "POST") {
      if (!isJsonContentType(req.headers["content-type"])) return sendError(res, { error: new GatewayError("UNSUPPORTED_MEDIA_TYPE") });
      if (!acceptsPost(req.headers.accept)) return sendError(res, { error: new GatewayError("NOT_ACCEPTABLE") });
      const ex = new ExchangeImpl(route.name, "streamable-http", "POST", req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
      res.once("close", () => exchangeDone(ex));
      if (await this.#refusedFromHeaders(req, res, ex)) return;
      let body: string;
      try {
        body = await readBodyTimed(req, this.#body);
      } catch (e) {
        return this.#bodyFailed(res, e);
      }
      const bad = relay.parse(ex, body);
      // A client that hangs up before the answer starts must not leave the backend working for nobody.
      const gone = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) gone.abort();
      };
      res.once("close", onClose);
      try {
        return await this.#write(res, await relay.post(ex, route, body, gone.signal, bad), singleId(ex), ex);
      } finally {
        res.off("close", onClose);
      }
    }
    if (method === "GET") {
      if (req.headers["mcp-protocol-version"] !== "2026-07-28" && !accepts(req.headers.accept, "text", "event-stream")) {
        return sendError(res, { error: new GatewayError("NOT_ACCEPTABLE", "GET needs Accept: text/event-stream") });
      }
      const ex = new ExchangeImpl(route.name, "streamable-http", "GET", req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
      const gone = new AbortController();
      res.once("close", () => {
        exchangeDone(ex);
        gone.abort();
      });
      return this.#write(res, await relay.get(ex, route, gone.signal), undefined, ex);
    }
    if (method === "DELETE") {
      const ex = new ExchangeImpl(
        route.name,
        "streamable-http",
        "DELETE",
        req.headers,
        clientAddress(req),
        req.url ?? "",
        this.#o.gatewayId,
      );
      return this.#write(res, await relay.delete(ex), undefined, ex);
    }
    res.setHeader("allow", "GET, POST, DELETE");
    return sendError(res, { error: new GatewayError("METHOD_NOT_ALLOWED") });
  }

  async #write(res: ServerResponse, o: Outcome, id: string | number | undefined, ex?: ExchangeImpl): Promise<void> {
    switch (o.type) {
      case "error":
        return sendError(res, o.reply, id, ex);
      case "accepted":
        res.writeHead(202).end();
        return;
      case "empty":
        res.writeHead(o.status).end();
        return;
      case "http-error":
        res.writeHead(o.status, o.contentType ? { "content-type": o.contentType } : {});
        res.end(o.body);
        return;
      case "json":
        return sendJson(res, 200, o.body, o.sessionId ? { "mcp-session-id": o.sessionId } : undefined);
      case "stream":
        return this.#writeStream(res, o);
    }
  }

  async #writeStream(res: ServerResponse, o: Extract<Outcome, { type: "stream" }>): Promise<void> {
    res.writeHead(200, o.sessionId ? { ...SSE_HEADERS, "mcp-session-id": o.sessionId } : SSE_HEADERS);
    res.flushHeaders();
    this.#streams.add(res);
    let finished = false;
    const onClose = () => {
      if (!finished) o.cancel(new GatewayError("UPSTREAM_CLOSED", "client disconnected"));
    };
    res.on("close", onClose);
    // Comments keep idle streams (GET, subscriptions/listen) alive through proxies and load balancers.
    const ka = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE_MS);
    ka.unref();
    try {
      for await (const ev of o.events) {
        if (res.destroyed) break;
        if (!res.write(formatSse(ev))) await new Promise<void>((r) => res.once("drain", r).once("close", r));
      }
    } finally {
      clearInterval(ka);
      finished = true;
      this.#streams.delete(res);
      res.off("close", onClose);
      if (!res.writableEnded) res.end();
    }
  }

  /** Legacy HTTP+SSE (2024-11-05): GET opens the stream; its first event names the POST endpoint. */
  async #legacyOpen(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    if (req.method !== "GET") {
      res.setHeader("allow", "GET");
      return sendError(res, { error: new GatewayError("METHOD_NOT_ALLOWED") });
    }
    const ex = new ExchangeImpl(route.name, "sse", "GET", req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
    ex.protocolVersion = "2024-11-05";
    const reply = await this.#o.relay.admitStream(ex);
    if (reply) return sendError(res, reply, undefined, ex);
    const key = randomBytes(9).toString("base64url");
    // The session stage seals it for this principal, like an InitializeResult does on Streamable HTTP.
    // (Not announced as "opened": the stream's end is not reported as a session end either.)
    const token = this.#o.sessions.seal(ex, { srv: route.name, pv: "2024-11-05", bind: localBinding(key) }, false);
    const conn = new LegacyDownstream(key, res, route, token);
    this.#legacy.set(key, conn);
    res.writeHead(200, SSE_HEADERS);
    res.write(formatSse({ event: "endpoint", data: `/mcp/${encodeURIComponent(route.name)}/message?sessionId=${token}` }));
    const ka = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE_MS);
    ka.unref();
    // A connection that never opens a session holds a socket for nothing: closed after the stream idle limit.
    const idleMs = this.#o.streamIdleTimeoutMs ?? 0;
    const idle =
      idleMs > 0
        ? setTimeout(() => {
            if (!conn.upstreamSession) conn.close();
          }, idleMs)
        : undefined;
    idle?.unref();
    res.on("close", () => {
      clearInterval(ka);
      if (idle) clearTimeout(idle);
      conn.close();
      this.#legacy.delete(key);
      if (conn.upstreamSession) {
        const end = new ExchangeImpl(route.name, "sse", "DELETE", req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
        end.upstreamSession = conn.upstreamSession;
        void this.#o.relay.terminate(end);
      }
    });
  }

  async #legacyPost(req: IncomingMessage, res: ServerResponse, route: Route, query: string): Promise<void> {
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return sendError(res, { error: new GatewayError("METHOD_NOT_ALLOWED") });
    }
    const token = new URLSearchParams(query).get("sessionId") ?? "";
    const claims = this.#o.sessions.open(token);
    const conn = claims && claims.srv === route.name ? this.#legacy.get(localKey(claims.bind) ?? "") : undefined;
    if (!claims || !conn || conn.closed) return sendError(res, { error: new GatewayError("SESSION_NOT_FOUND") });
    if (!isJsonContentType(req.headers["content-type"])) return sendError(res, { error: new GatewayError("UNSUPPORTED_MEDIA_TYPE") });
    let body: string;
    try {
      body = await readBodyTimed(req, this.#body);
    } catch (e) {
      return this.#bodyFailed(res, e);
    }
    const ex = new ExchangeImpl(route.name, "sse", "POST", req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
    ex.protocolVersion = conn.protocolVersion;
    const bad = this.#o.relay.parse(ex, body);
    if (bad) return this.#write(res, await this.#o.relay.post(ex, route, body, undefined, bad), singleId(ex), ex);
    ex.session = claims;
    ex.sessionId = token;
    ex.upstreamSession = conn.upstreamSession;
    if (!ex.opening && !conn.upstreamSession) {
      return sendError(res, { error: new GatewayError("INVALID_REQUEST", "the first message must be initialize") }, singleId(ex));
    }
    // 202 as soon as the chain admitted the messages: the answers come on the SSE stream when they are
    // ready, so a slow call never holds up the client's next POST (clients that post one at a time).
    let acked = false;
    const ack = () => {
      if (acked) return;
      acked = true;
      res.writeHead(202).end();
    };
    const o = await this.#o.relay.post(ex, route, body, undefined, undefined, ack);
    if (ex.upstreamSession && !conn.upstreamSession) conn.upstreamSession = ex.upstreamSession;
    switch (o.type) {
      case "error": {
        const id = singleId(ex);
        if (!acked) return sendError(res, o.reply, id, ex);
        if (id !== undefined) conn.write(JSON.stringify(errorResponse(id, o.reply.error.toRpcError())));
        break;
      }
      case "http-error":
        if (!acked) {
          res.writeHead(o.status, o.contentType ? { "content-type": o.contentType } : {});
          res.end(o.body);
          return;
        }
        break;
      case "accepted":
      case "empty":
        ack();
        break;
      case "json":
        ack();
        conn.write(o.body);
        break;
      case "stream":
        ack();
        conn.pipe(o.events, o.cancel);
        break;
    }
    if (ex.opening && conn.upstreamSession && !conn.listening) {
      conn.listening = true;
      this.#legacyListen(conn, req);
    }
  }

  /** After initialize, relay the backend's server-initiated messages onto the legacy stream. */
  #legacyListen(conn: LegacyDownstream, req: IncomingMessage): void {
    const ex = new ExchangeImpl(conn.route.name, "sse", "GET", req.headers, clientAddress(req), req.url ?? "", this.#o.gatewayId);
    ex.upstreamSession = conn.upstreamSession;
    ex.protocolVersion = conn.protocolVersion;
    void this.#o.relay.listen(ex, conn.route).then((o) => {
      if (o.type === "stream") {
        if (conn.closed) o.cancel(new GatewayError("UPSTREAM_CLOSED", "client disconnected"));
        else conn.pipe(o.events, o.cancel);
      }
    });
  }

  /** End every open stream (shutdown). */
  closeStreams(): void {
    for (const c of this.#legacy.values()) c.close();
    for (const r of this.#streams) if (!r.writableEnded) r.end();
  }
}
