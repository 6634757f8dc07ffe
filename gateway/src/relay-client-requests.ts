// Server→client requests the gateway itself sends (the approval stage's elicitation/create): written
// on the SSE stream of the client request being decided, answered by the client's later POST.

import { randomBytes } from "node:crypto";
import type { Exchange } from "./chain/types.ts";
import { errorResponse, isObject, type JsonObject, type RpcMessage } from "./codec/jsonrpc.ts";
import { GatewayError } from "./errors.ts";
import type { Outcome, OutEvent } from "./relay.ts";

/** Ids of gateway-owned requests: never forwarded to a backend, never confused with a backend's ids. */
export const GATEWAY_REQUEST_PREFIX = "mcp-gateway/";

/** Why a request to the client got no answer. */
export class ClientRequestError extends Error {
  readonly kind: "timeout" | "cancelled" | "busy";
  constructor(kind: ClientRequestError["kind"], message: string) {
    super(message);
    this.name = "ClientRequestError";
    this.kind = kind;
  }
}

/** The client declared form-mode elicitation at initialize (MCP 2025-06-18 `elicitation: {}`; 2025-11-25 `elicitation.form`). */
export function declaresFormElicitation(initialize: RpcMessage | undefined): boolean {
  const params = initialize?.raw.params;
  const caps = isObject(params) ? params.capabilities : undefined;
  const e = isObject(caps) ? caps.elicitation : undefined;
  if (!isObject(e)) return false;
  // An empty object means form mode (2025-11-25 keeps that for backwards compatibility).
  return (e.form === undefined && e.url === undefined) || isObject(e.form);
}

interface Pending {
  readonly owner: string;
  readonly resolve: (raw: JsonObject) => void;
  readonly timer: NodeJS.Timeout;
}

/** Most gateway requests waiting for their answers in this process. */
const MAX_PENDING = 100_000;

const ownerOf = (ex: Exchange) => `${ex.server}\u0000${ex.sessionId ?? ""}\u0000${ex.principal?.sub ?? ""}\u0000${ex.principal?.iss ?? ""}`;

export class ClientRequests {
  readonly #pending = new Map<string, Pending>();

  get pending(): number {
    return this.#pending.size;
  }

  /**
   * A message of the client's POST that answers a gateway request: hand the answer over (only to the
   * session and principal it was asked of). True when the message carries a gateway id, answered or
   * not: such a message must never go upstream.
   */
  answer(ex: Exchange, msg: RpcMessage): boolean {
    if (msg.kind !== "response" || typeof msg.id !== "string" || !msg.id.startsWith(GATEWAY_REQUEST_PREFIX)) return false;
    const p = this.#pending.get(msg.id);
    if (p && p.owner === ownerOf(ex)) {
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg.raw);
    }
    return true;
  }

  /**
   * For a single Streamable HTTP request that filters may need to ask the client about: sets
   * `ex.askClient` and returns the stream its questions (and then the request's own answer) go out on.
   */
  offer(ex: Exchange & { askClient?: Exchange["askClient"] }, clientGone: AbortSignal | undefined): EarlyStream {
    const early = new EarlyStream(ex.messages[0]!, clientGone);
    ex.askClient = (method, params, opts) => {
      if (this.#pending.size >= MAX_PENDING) return Promise.reject(new ClientRequestError("busy", "too many requests to clients pending"));
      const id = `${GATEWAY_REQUEST_PREFIX}${randomBytes(12).toString("base64url")}`;
      return new Promise<JsonObject>((resolve, reject) => {
        const fail = (e: ClientRequestError) => {
          if (!this.#pending.delete(id)) return;
          clearTimeout(timer);
          early.offSignal(onAbort);
          reject(e);
        };
        const timer = setTimeout(() => {
          // Tell the client to stop asking its user (MCP cancellation), then refuse.
          early.push({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: "no answer in time" } });
          fail(new ClientRequestError("timeout", `no answer within ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
        timer.unref();
        const onAbort = () => fail(new ClientRequestError("cancelled", "the client closed the stream"));
        early.onSignal(onAbort);
        this.#pending.set(id, {
          owner: ownerOf(ex),
          timer,
          resolve: (raw) => {
            early.offSignal(onAbort);
            resolve(raw);
          },
        });
        early.push({ jsonrpc: "2.0", id, method, params });
      });
    };
    return early;
  }
}

/**
 * The downstream answer of a request that asked the client something: an SSE stream that carries the
 * gateway's requests first, then whatever the request's own processing produced (JSON, SSE or an error).
 */
export class EarlyStream {
  readonly #request: RpcMessage;
  readonly #queue: JsonObject[] = [];
  #wake: (() => void) | undefined;
  /** Set while run() waits: the first push switches the answer to the stream. */
  #onStart: (() => void) | undefined;
  /** Made on first use: most requests never ask the client anything, and this is on every tools/call. */
  #abort: AbortController | undefined;
  readonly #clientGone: AbortSignal | undefined;
  #done: Outcome | undefined;

  constructor(request: RpcMessage, clientGone: AbortSignal | undefined) {
    this.#request = request;
    this.#clientGone = clientGone;
  }

  push(msg: JsonObject): void {
    this.#queue.push(msg);
    const start = this.#onStart;
    this.#onStart = undefined;
    start?.();
    this.#wake?.();
  }

  onSignal(f: () => void): void {
    this.#abort ??= new AbortController();
    this.#abort.signal.addEventListener("abort", f, { once: true });
    this.#clientGone?.addEventListener("abort", f, { once: true });
  }

  offSignal(f: () => void): void {
    this.#abort?.signal.removeEventListener("abort", f);
    this.#clientGone?.removeEventListener("abort", f);
  }

  /** The outcome to write: the request's own when nothing was asked before it was ready, else the stream. */
  run(inner: Promise<Outcome>): Promise<Outcome> {
    if (this.#queue.length > 0) return Promise.resolve(this.#stream(inner));
    return new Promise<Outcome>((resolve, reject) => {
      this.#onStart = () => resolve(this.#stream(inner));
      inner.then(
        (o) => {
          if (!this.#onStart) return; // already answered with the stream, which carries `o` at its end
          this.#onStart = undefined;
          resolve(o);
        },
        (e: unknown) => {
          if (!this.#onStart) return;
          this.#onStart = undefined;
          reject(e);
        },
      );
    });
  }

  #stream(inner: Promise<Outcome>): Outcome {
    return {
      type: "stream",
      events: this.#events(inner),
      sessionId: undefined,
      cancel: (reason) => {
        this.#abort ??= new AbortController();
        this.#abort.abort();
        if (this.#done?.type === "stream") this.#done.cancel(reason);
      },
    };
  }

  async *#events(inner: Promise<Outcome>): AsyncGenerator<OutEvent> {
    void inner.then(
      (o) => {
        this.#done = o;
        this.#wake?.();
      },
      () => {
        this.#done = { type: "error", reply: { error: new GatewayError("INTERNAL_ERROR") } };
        this.#wake?.();
      },
    );
    for (;;) {
      while (this.#queue.length > 0) yield ev(JSON.stringify(this.#queue.shift()));
      if (this.#done) break;
      await new Promise<void>((r) => {
        this.#wake = r;
      });
      this.#wake = undefined;
    }
    const o: Outcome = this.#done;
    const id = this.#request.id!;
    switch (o.type) {
      case "json":
        yield ev(o.body);
        return;
      case "stream":
        yield* o.events;
        return;
      case "error":
        yield ev(JSON.stringify(errorResponse(id, o.reply.error.toRpcError())));
        return;
      case "http-error":
        yield ev(JSON.stringify(errorResponse(id, new GatewayError("UPSTREAM_HTTP_ERROR", `HTTP ${o.status}`).toRpcError())));
        return;
      default:
        return;
    }
  }
}

const ev = (data: string): OutEvent => ({ data, id: undefined, retry: undefined });
