// Legacy HTTP+SSE backends (MCP 2024-11-05): GET opens an SSE stream whose first `endpoint` event
// names the POST URL; answers come back on the stream. One connection per downstream session,
// process-local like stdio (bound to "<instance>:<key>" in the sealed session).

import { randomBytes } from "node:crypto";
import { Pool } from "undici";
import type { JsonObject, RpcMessage } from "../codec/jsonrpc.ts";
import { isObject } from "../codec/jsonrpc.ts";
import { SseParser } from "../codec/sse.ts";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { type BackendEra, ModernBridge, type Prepared, prepareForModern } from "./backend-era.ts";
import { closePool } from "./body.ts";
import { ChannelSession, localBinding, localKey, MessageChannel } from "./channel.ts";
import { upstreamFailure } from "./streamable-http.ts";
import type { SessionState, Upstream, UpstreamCallContext, UpstreamSession } from "./types.ts";

export interface LegacySseOptions {
  server: string;
  url: string;
  headers: Record<string, string>;
  logger: Logger;
  /** How long to wait for the `endpoint` event (ms). */
  connectTimeoutMs?: number;
  /** Longest backend message (one SSE event), in characters; beyond it UPSTREAM_FRAME_TOO_LARGE ends the connection. */
  maxMessageLength?: number;
}

class LegacyConnection {
  readonly channel: MessageChannel;
  readonly key: string;
  readonly #abort = new AbortController();
  #endpoint: URL | undefined;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;

  constructor(pool: Pool, headers: Record<string, string>, key: string, shared: boolean) {
    this.#pool = pool;
    this.#headers = headers;
    this.key = key;
    this.channel = new MessageChannel({ send: (m) => this.#post(m) }, shared);
  }

  /** Log what the channel drops (buffer overflow of unsolicited messages, stray responses). */
  watch(opts: LegacySseOptions): void {
    const server = opts.server;
    this.channel.onDrop = (reason) => opts.logger.debug("legacy SSE backend message dropped", { "mcp_gateway.server": server, reason });
    this.channel.onOverflow = () =>
      opts.logger.warn("no stream open for the backend's unsolicited messages and the buffer is full: dropping the oldest", {
        "mcp_gateway.server": server,
        session: this.key,
      });
  }

  async open(url: URL, opts: LegacySseOptions, onClose: () => void): Promise<void> {
    const timeout = opts.connectTimeoutMs ?? 10_000;
    const timer = setTimeout(
      () => this.#abort.abort(new GatewayError("UPSTREAM_TIMEOUT", "no endpoint event from legacy SSE backend")),
      timeout,
    );
    let res: Awaited<ReturnType<Pool["request"]>>;
    try {
      res = await this.#pool.request({
        path: url.pathname + url.search,
        method: "GET",
        headers: { ...this.#headers, accept: "text/event-stream" },
        signal: this.#abort.signal,
      });
    } catch (e) {
      clearTimeout(timer);
      throw upstreamFailure(e, this.#abort.signal);
    }
    if (res.statusCode !== 200) {
      clearTimeout(timer);
      await res.body.dump();
      throw new GatewayError("UPSTREAM_HTTP_ERROR", `legacy SSE backend answered GET with ${res.statusCode}`);
    }
    const parser = new SseParser(opts.maxMessageLength);
    const decoder = new TextDecoder();
    let ready: (() => void) | undefined;
    let failed: ((e: GatewayError) => void) | undefined;
    const endpointSeen = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    const body = res.body;
    (async () => {
      try {
        for await (const chunk of body) {
          for (const ev of parser.push(decoder.decode(chunk as Buffer, { stream: true }))) {
            if (ev.event === "endpoint") {
              this.#endpoint = new URL(ev.data.trim(), url);
              clearTimeout(timer);
              ready?.();
              continue;
            }
            if (ev.event !== undefined && ev.event !== "message") continue;
            let v: unknown;
            try {
              v = JSON.parse(ev.data);
            } catch {
              opts.logger.warn("legacy SSE backend sent an event that is not JSON", { "mcp_gateway.server": opts.server });
              continue;
            }
            if (isObject(v) && v.jsonrpc === "2.0") this.channel.receive(v as JsonObject, ev.data);
          }
        }
        throw new GatewayError("UPSTREAM_CLOSED", "legacy SSE stream ended");
      } catch (e) {
        const err = upstreamFailure(e, this.#abort.signal);
        clearTimeout(timer);
        failed?.(err);
        this.channel.close(err);
        onClose();
      }
    })();
    await endpointSeen;
  }

  async #post(m: JsonObject): Promise<void> {
    const ep = this.#endpoint;
    if (!ep) throw new GatewayError("UPSTREAM_CLOSED");
    const res = await this.#pool.request({
      path: ep.pathname + ep.search,
      method: "POST",
      headers: { ...this.#headers, "content-type": "application/json" },
      body: JSON.stringify(m),
    });
    await res.body.dump();
    if (res.statusCode >= 300) throw new GatewayError("UPSTREAM_HTTP_ERROR", `legacy SSE backend answered POST with ${res.statusCode}`);
  }

  close(): void {
    this.channel.close(new GatewayError("SESSION_NOT_FOUND", "session ended"));
    this.#abort.abort(new GatewayError("UPSTREAM_CLOSED", "session ended"));
  }
}

export class LegacySseUpstream implements Upstream {
  readonly transport = "sse" as const;
  readonly address: string;
  readonly #opts: LegacySseOptions;
  readonly #url: URL;
  readonly #pool: Pool;
  readonly #conns = new Map<string, LegacyConnection>();
  /** One connection per owner for 2026-07-28 callers (issue 10, bug 4), ready once initialized. */
  readonly #modern = new Map<string, { conn: Promise<{ c: LegacyConnection; bridge: ModernBridge | undefined }> }>();
  #era: BackendEra | undefined;

  constructor(opts: LegacySseOptions) {
    this.#opts = opts;
    this.#url = new URL(opts.url);
    this.address = this.#url.host;
    this.#pool = new Pool(this.#url.origin, { connections: 256, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
  }

  async #open(key: string, shared: boolean, credentials: Record<string, string>): Promise<LegacyConnection> {
    const c = new LegacyConnection(this.#pool, { ...this.#opts.headers, ...credentials }, key, shared);
    c.watch(this.#opts);
    this.#conns.set(key, c);
    try {
      await c.open(this.#url, this.#opts, () => this.#conns.delete(key));
    } catch (e) {
      this.#conns.delete(key);
      throw e;
    }
    return c;
  }

  async connect(ctx: UpstreamCallContext): Promise<UpstreamSession> {
    const key = randomBytes(9).toString("base64url");
    const c = await this.#open(key, false, ctx.credentialHeaders);
    return this.#session(c, localBinding(key));
  }

  attach(state: SessionState): UpstreamSession | undefined {
    const key = localKey(state.bind);
    const c = key === undefined ? undefined : this.#conns.get(key);
    if (!c || c.channel.closed) return undefined;
    return this.#session(c, state.bind);
  }

  /** Ending the session forgets the connection and closes it. */
  #session(c: LegacyConnection, bind: string | undefined): UpstreamSession {
    return new ChannelSession(c.channel, bind, () => {
      this.#conns.delete(c.key);
      c.close();
    });
  }

  /**
   * 2026-07-28 callers: a legacy SSE backend speaks 2024-11-05, so the gateway opens one connection per
   * owner, initializes it and holds that session for the owner (backend-era.ts); never one connection
   * for two principals. A closed connection is replaced on next use.
   */
  async stateless(ctx: UpstreamCallContext, messages: readonly RpcMessage[]): Promise<UpstreamSession> {
    const owner = ctx.owner ?? "";
    let m = this.#modern.get(owner);
    if (m) {
      const r = await m.conn.catch(() => undefined);
      if (!r || r.c.channel.closed) m = undefined;
    }
    if (!m) {
      const key = `modern-${randomBytes(6).toString("base64url")}`;
      const entry = {
        conn: (async () => {
          const c = await this.#open(key, true, ctx.credentialHeaders);
          let prepared: Prepared;
          try {
            prepared = await prepareForModern(c.channel, messages, this.#era, ctx.signal);
          } catch (e) {
            this.#conns.delete(key);
            c.close();
            throw e;
          }
          this.#era = prepared.era;
          const bridge = prepared.initialize ? new ModernBridge(c.channel, prepared.initialize) : undefined;
          return { c, bridge };
        })(),
      };
      m = entry;
      this.#modern.set(owner, entry);
      entry.conn.catch(() => {
        if (this.#modern.get(owner) === entry) this.#modern.delete(owner);
      });
    }
    const { c, bridge } = await m.conn;
    const session = new ChannelSession(c.channel, undefined, () => {});
    return bridge ? bridge.session(session) : session;
  }

  async close(): Promise<void> {
    for (const c of this.#conns.values()) c.close();
    this.#conns.clear();
    await closePool(this.#pool);
  }
}
