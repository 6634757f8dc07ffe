// Streamable HTTP backend (MCP 2025-03-26+) over an undici keep-alive pool. Request-scoped: the
// upstream session id travels in the sealed downstream session, so any replica can continue it.

import { Pool, errors as undiciErrors } from "undici";
import type { RpcMessage } from "../codec/jsonrpc.ts";
import { GatewayError } from "../errors.ts";
import { closePool, jsonBodyMessages, sseMessages } from "./body.ts";
import type { SessionState, Upstream, UpstreamCallContext, UpstreamReply, UpstreamSession } from "./types.ts";

const MAX_ERROR_BODY = 64 * 1024;
const MAX_JSON_BODY = 64 * 1024 * 1024;

export interface StreamableHttpOptions {
  url: string;
  /** Static headers from config (already revealed). */
  headers: Record<string, string>;
  connections?: number;
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Map a transport failure to the gateway's error: refused/reset → unavailable, abort → timeout/closed. */
export function upstreamFailure(e: unknown, signal: AbortSignal): GatewayError {
  if (e instanceof GatewayError) return e;
  if (signal.aborted) {
    const r = signal.reason;
    return r instanceof GatewayError ? r : new GatewayError("UPSTREAM_CLOSED", "request aborted");
  }
  if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError)
    return new GatewayError("UPSTREAM_TIMEOUT");
  if (e instanceof undiciErrors.SocketError) return new GatewayError("UPSTREAM_CLOSED", "connection closed by backend");
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE")
    return new GatewayError("UPSTREAM_CLOSED", "connection closed by backend");
  return new GatewayError("UPSTREAM_UNAVAILABLE", code ?? "connection failed");
}

export class StreamableHttpUpstream implements Upstream {
  readonly transport = "streamable-http" as const;
  readonly address: string;
  readonly #pool: Pool;
  readonly #path: string;
  readonly #static: Record<string, string>;

  constructor(opts: StreamableHttpOptions) {
    const u = new URL(opts.url);
    this.address = u.host;
    this.#path = u.pathname + u.search;
    this.#static = opts.headers;
    this.#pool = new Pool(u.origin, {
      connections: opts.connections ?? 256,
      keepAliveTimeout: 30_000,
      // Timeouts are the relay's (per request, reset on every message); SSE streams may idle for long.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  async connect(): Promise<UpstreamSession> {
    return new HttpSession(this, undefined);
  }
  attach(state: SessionState): UpstreamSession {
    return new HttpSession(this, state.up);
  }
  async stateless(): Promise<UpstreamSession> {
    return new HttpSession(this, undefined);
  }
  async close(): Promise<void> {
    await closePool(this.#pool);
  }

  /** One HTTP exchange with the backend. */
  async call(
    method: "POST" | "GET" | "DELETE",
    sessionId: string | undefined,
    body: string | undefined,
    ctx: UpstreamCallContext,
    onSession?: (id: string) => void,
  ): Promise<UpstreamReply> {
    const headers: Record<string, string> = { ...this.#static, ...ctx.headers };
    if (sessionId !== undefined) headers["mcp-session-id"] = sessionId;
    if (method === "POST") {
      headers["content-type"] = "application/json";
      headers.accept = "application/json, text/event-stream";
    } else if (method === "GET") {
      headers.accept = "text/event-stream";
    }
    let res: Awaited<ReturnType<Pool["request"]>>;
    try {
      res = await this.#pool.request({ path: this.#path, method, headers, body: body ?? null, signal: ctx.signal });
    } catch (e) {
      throw upstreamFailure(e, ctx.signal);
    }
    const rh = res.headers as Record<string, string | string[] | undefined>;
    const newSession = header(rh, "mcp-session-id");
    if (newSession !== undefined && onSession) onSession(newSession);
    const status = res.statusCode;
    const ctype = header(rh, "content-type");
    if (status === 202 || (status >= 200 && status < 300 && method !== "GET" && !ctype)) {
      await res.body.dump();
      return { kind: "accepted" };
    }
    if (status < 200 || status >= 300) {
      let text = "";
      try {
        for await (const c of res.body) {
          text += c.toString();
          if (text.length > MAX_ERROR_BODY) {
            text = text.slice(0, MAX_ERROR_BODY);
            res.body.destroy();
            break;
          }
        }
      } catch {
        /* a truncated error body is still an error */
      }
      return { kind: "http-error", status, contentType: ctype, body: text };
    }
    if (ctype?.startsWith("text/event-stream")) {
      const body = res.body;
      const signal = ctx.signal;
      async function* events() {
        try {
          yield* sseMessages(body);
        } catch (e) {
          throw upstreamFailure(e, signal);
        } finally {
          if (!body.destroyed) body.destroy();
        }
      }
      return { kind: "messages", stream: true, messages: events(), sessionId: newSession };
    }
    if (ctype?.startsWith("application/json")) {
      let text: string;
      try {
        const buf = await res.body.arrayBuffer();
        if (buf.byteLength > MAX_JSON_BODY) throw new GatewayError("UPSTREAM_BAD_RESPONSE", "backend body too large");
        text = Buffer.from(buf).toString("utf8");
      } catch (e) {
        throw upstreamFailure(e, ctx.signal);
      }
      const msgs = jsonBodyMessages(text);
      return { kind: "messages", stream: false, messages: fromArray(msgs), sessionId: newSession };
    }
    await res.body.dump();
    throw new GatewayError("UPSTREAM_BAD_RESPONSE", `backend answered with content type ${ctype ?? "(none)"}`);
  }
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

class HttpSession implements UpstreamSession {
  readonly local = false;
  #up: string | undefined;
  readonly #u: StreamableHttpUpstream;
  constructor(u: StreamableHttpUpstream, up: string | undefined) {
    this.#u = u;
    this.#up = up;
  }
  state(): SessionState {
    return this.#up === undefined ? {} : { up: this.#up };
  }
  post(body: string, _messages: readonly RpcMessage[], ctx: UpstreamCallContext): Promise<UpstreamReply> {
    return this.#u.call("POST", this.#up, body, ctx, (id) => {
      if (this.#up === undefined) this.#up = id;
    });
  }
  listen(ctx: UpstreamCallContext): Promise<UpstreamReply> {
    return this.#u.call("GET", this.#up, undefined, ctx);
  }
  async terminate(ctx: UpstreamCallContext): Promise<void> {
    if (this.#up === undefined) return;
    const r = await this.#u.call("DELETE", this.#up, undefined, ctx);
    if (r.kind === "messages") for await (const _ of r.messages);
  }
}
