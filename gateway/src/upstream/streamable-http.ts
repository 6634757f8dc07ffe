// Streamable HTTP backend (MCP 2025-03-26+) over an undici keep-alive pool. Request-scoped: the
// upstream session id travels in the sealed downstream session, so any replica can continue it.

import { type Dispatcher, Pool, errors as undiciErrors } from "undici";
import type { RpcMessage } from "../codec/jsonrpc.ts";
import { GatewayError } from "../errors.ts";
import { BodyMessages, closePool, jsonBodyMessages, sseMessages } from "./body.ts";
import type { SessionState, Upstream, UpstreamCallContext, UpstreamMessage, UpstreamReply, UpstreamSession } from "./types.ts";

const MAX_ERROR_BODY = 64 * 1024;
const MAX_JSON_BODY = 64 * 1024 * 1024;
/** Bodies we drop (202, unexpected content types) are read up to this much, as undici's dump() does. */
const MAX_DUMP = 128 * 1024;
/** SSE chunks queued for the parser before the socket is paused. */
const SSE_HIGH_WATER = 16;

export interface StreamableHttpOptions {
  url: string;
  /** Static headers from config (already revealed). */
  headers: Record<string, string>;
  connections?: number;
  /** Long-lived GET streams at once (default 128, and always 16 connections fewer than `connections`). */
  streamConnections?: number;
  /** Longest backend message (one SSE event), in characters; beyond it UPSTREAM_FRAME_TOO_LARGE ends the stream. */
  maxMessageLength?: number;
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
  /** GET streams live long: at most this many at once, so they can never take every connection from requests and new sessions. */
  readonly #maxStreams: number;
  #streams = 0;
  readonly #path: string;
  readonly #static: Record<string, string>;
  readonly #maxLen: number | undefined;

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
    this.#maxStreams = Math.min(opts.streamConnections ?? 128, Math.max(1, (opts.connections ?? 256) - 16));
    this.#maxLen = opts.maxMessageLength;
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
  call(
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
    const signal = ctx.signal;
    if (signal.aborted) return Promise.reject(upstreamFailure(undefined, signal));
    let onFinish: (() => void) | undefined;
    if (method === "GET") {
      if (this.#streams >= this.#maxStreams) {
        return Promise.reject(new GatewayError("STREAM_LIMIT", `the backend's ${this.#maxStreams} stream connections are in use`));
      }
      this.#streams++;
      let released = false;
      onFinish = () => {
        if (released) return;
        released = true;
        this.#streams--;
      };
    }
    return new Promise<UpstreamReply>((resolve, reject) => {
      const exchange = new BackendExchange(method, signal, onSession, resolve, reject, this.#maxLen, onFinish);
      // Never removed: every signal here belongs to one call, and onAbort is a no-op once the request is over.
      signal.addEventListener("abort", exchange.onAbort, { once: true });
      this.#pool.dispatch({ path: this.#path, method, headers, body: body ?? null }, exchange);
    });
  }
}

/** What happens to a response body, decided from its head. */
type BodyMode = "accepted" | "error" | "json" | "sse" | "other";

/**
 * One request to the backend on undici's handler API rather than `pool.request`: a JSON or error body is
 * buffered straight from the parser's callbacks, an SSE body is handed to the incremental parser through a
 * small queue. This saves a Readable, its promises and an abort listener per request on the hot path.
 * The reply promise settles when the head says the body is a stream (SSE), otherwise when the body is complete.
 */
class BackendExchange implements Dispatcher.DispatchHandler {
  readonly #method: string;
  readonly #signal: AbortSignal;
  readonly #onSession: ((id: string) => void) | undefined;
  readonly #resolve: (r: UpstreamReply) => void;
  readonly #reject: (e: GatewayError) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #settled = false;
  /** The request is over for undici (ended or failed): an abort must not reach its controller any more. */
  #finished = false;
  #mode: BodyMode | undefined;
  #status = 0;
  #ctype: string | undefined;
  #sessionId: string | undefined;
  #chunks: Buffer[] = [];
  #size = 0;
  #errorText = "";
  #sse: ChunkQueue | undefined;
  readonly #maxLen: number | undefined;
  /** Called once when the request is over for good (GET streams give back their capacity). */
  readonly #onFinish: (() => void) | undefined;

  constructor(
    method: string,
    signal: AbortSignal,
    onSession: ((id: string) => void) | undefined,
    resolve: (r: UpstreamReply) => void,
    reject: (e: GatewayError) => void,
    maxLen?: number,
    onFinish?: () => void,
  ) {
    this.#maxLen = maxLen;
    this.#onFinish = onFinish;
    this.#method = method;
    this.#signal = signal;
    this.#onSession = onSession;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** The relay gave up (timeout, client gone, cancel): stop the request, whether it is queued or running. */
  readonly onAbort = (): void => {
    if (this.#finished) return;
    const reason = this.#signal.reason instanceof Error ? this.#signal.reason : new GatewayError("UPSTREAM_CLOSED", "request aborted");
    // Still queued in the pool: settle now; the controller is aborted when the request starts.
    if (!this.#controller) this.#fail(reason);
    else this.#controller.abort(reason);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#signal.aborted) controller.abort(this.#signal.reason instanceof Error ? this.#signal.reason : new Error("aborted"));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    const sid = header(headers, "mcp-session-id");
    if (sid !== undefined) {
      this.#sessionId = sid;
      this.#onSession?.(sid);
    }
    const ctype = header(headers, "content-type");
    this.#status = status;
    this.#ctype = ctype;
    // A DELETE is answered by its status alone: 200 with `application/json` and an empty body (the
    // Python SDK server) is as clean an end as 204 (issue 10, bug 7).
    const ok = status >= 200 && status < 300;
    if (status === 202 || (ok && this.#method !== "GET" && !ctype) || (ok && this.#method === "DELETE")) this.#mode = "accepted";
    else if (status < 200 || status >= 300) this.#mode = "error";
    else if (ctype?.startsWith("text/event-stream")) {
      this.#mode = "sse";
      const queue = new ChunkQueue(controller, () => this.#finished);
      this.#sse = queue;
      const signal = this.#signal;
      const maxLen = this.#maxLen;
      async function* events(): AsyncGenerator<UpstreamMessage> {
        try {
          yield* sseMessages(queue, maxLen);
        } catch (e) {
          throw upstreamFailure(e, signal);
        } finally {
          queue.close();
        }
      }
      this.#settle({ kind: "messages", stream: true, messages: events(), sessionId: sid });
    } else if (ctype?.startsWith("application/json")) this.#mode = "json";
    else this.#mode = "other";
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    switch (this.#mode) {
      case "json":
        this.#size += chunk.length;
        if (this.#size > MAX_JSON_BODY) {
          this.#fail(new GatewayError("UPSTREAM_BAD_RESPONSE", "backend body too large"));
          controller.abort(new GatewayError("UPSTREAM_BAD_RESPONSE", "backend body too large"));
          return;
        }
        this.#chunks.push(chunk);
        return;
      case "sse":
        this.#sse!.push(chunk);
        return;
      case "error":
        this.#errorText += chunk.toString();
        if (this.#errorText.length > MAX_ERROR_BODY) {
          this.#errorText = this.#errorText.slice(0, MAX_ERROR_BODY);
          this.#settleError();
          controller.abort(new GatewayError("UPSTREAM_HTTP_ERROR", "error body too large"));
        }
        return;
      default:
        // accepted / other: the body is read and dropped (bounded like undici's dump()), so the connection is reused.
        this.#size += chunk.length;
        if (this.#size > MAX_DUMP) {
          this.#end();
          controller.abort(new GatewayError("UPSTREAM_BAD_RESPONSE", "dropped body too large"));
        }
    }
  }

  onResponseEnd(): void {
    this.#end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.#finished = true;
    this.#onFinish?.();
    switch (this.#mode) {
      case "sse":
        this.#sse!.fail(err);
        return;
      case "error":
        this.#settleError(); // a truncated error body is still an error
        return;
      case "accepted":
      case "other":
        this.#end(); // like dump(): a failure while dropping the body changes nothing
        return;
      default:
        this.#fail(err);
    }
  }

  #end(): void {
    this.#finished = true;
    this.#onFinish?.();
    switch (this.#mode) {
      case "accepted":
        this.#settle({ kind: "accepted" });
        return;
      case "error":
        this.#settleError();
        return;
      case "sse":
        this.#sse!.end();
        return;
      case "json": {
        if (this.#settled) return;
        const chunks = this.#chunks;
        const text = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, this.#size).toString("utf8");
        this.#chunks = [];
        let msgs: UpstreamMessage[];
        try {
          msgs = jsonBodyMessages(text);
        } catch (e) {
          this.#fail(e);
          return;
        }
        this.#settle({ kind: "messages", stream: false, messages: new BodyMessages(msgs), sessionId: this.#sessionId });
        return;
      }
      default:
        this.#fail(new GatewayError("UPSTREAM_BAD_RESPONSE", `backend answered with content type ${this.#ctype ?? "(none)"}`));
    }
  }

  #settleError(): void {
    this.#settle({ kind: "http-error", status: this.#status, contentType: this.#ctype, body: this.#errorText });
  }

  #settle(r: UpstreamReply): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(r);
  }

  #fail(e: unknown): void {
    this.#onFinish?.();
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(upstreamFailure(e, this.#signal));
  }
}

/**
 * The chunks of an SSE body, from undici's callbacks to the async parser. The parser pulls; when it falls
 * behind, the socket is paused (backpressure) and resumed once it has caught up.
 */
class ChunkQueue implements AsyncIterableIterator<Buffer> {
  readonly #controller: Dispatcher.DispatchController;
  readonly #finished: () => boolean;
  #chunks: Buffer[] = [];
  #ended = false;
  #closed = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(controller: Dispatcher.DispatchController, finished: () => boolean) {
    this.#controller = controller;
    this.#finished = finished;
  }

  push(chunk: Buffer): void {
    if (this.#closed) return;
    this.#chunks.push(chunk);
    if (this.#chunks.length >= SSE_HIGH_WATER) this.#controller.pause();
    this.#wakeUp();
  }

  end(): void {
    this.#ended = true;
    this.#wakeUp();
  }

  fail(e: Error): void {
    this.#error = e;
    this.#wakeUp();
  }

  /** The consumer is done with the stream: stop the request if it is still running. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    if (!this.#finished()) this.#controller.abort(new GatewayError("UPSTREAM_CLOSED", "stream closed by the gateway"));
  }

  async next(): Promise<IteratorResult<Buffer>> {
    for (;;) {
      const c = this.#chunks.shift();
      if (c) {
        if (this.#chunks.length === 0 && this.#controller.paused) this.#controller.resume();
        return { value: c, done: false };
      }
      if (this.#error) throw this.#error;
      if (this.#ended || this.#closed) return { value: undefined, done: true };
      await new Promise<void>((r) => {
        this.#wake = r;
      });
    }
  }

  async return(): Promise<IteratorResult<Buffer>> {
    this.close();
    return { value: undefined, done: true };
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
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
