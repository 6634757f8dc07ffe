// Message routing for connection-scoped backends (stdio, legacy HTTP+SSE): one ordered stream of
// messages from the backend is split per downstream request by JSON-RPC id and progress token.
// Messages that belong to no request go to the GET stream, or the newest open POST stream.

import { randomBytes } from "node:crypto";
import type { JsonObject, JsonRpcId, RpcMessage } from "../codec/jsonrpc.ts";
import { isObject } from "../codec/jsonrpc.ts";
import { GatewayError } from "../errors.ts";
import type { SessionState, UpstreamCallContext, UpstreamMessage, UpstreamReply, UpstreamSession } from "./types.ts";

/**
 * An async queue of messages consumed by one downstream response. It is its own iterator so that
 * return() (client gone, timeout) releases a pending next() at once and unregisters the request.
 */
export class Sink implements AsyncIterableIterator<UpstreamMessage> {
  readonly #items: UpstreamMessage[] = [];
  #waiter: { resolve: (r: IteratorResult<UpstreamMessage>) => void; reject: (e: unknown) => void } | undefined;
  #done = false;
  #error: GatewayError | undefined;
  #onDetach: (() => void) | undefined;
  constructor(onDetach?: () => void) {
    this.#onDetach = onDetach;
  }
  get done(): boolean {
    return this.#done;
  }
  push(m: UpstreamMessage): void {
    if (this.#done) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ value: m, done: false });
      return;
    }
    this.#items.push(m);
  }
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#settle();
  }
  fail(e: GatewayError): void {
    if (this.#done) return;
    this.#error = e;
    this.#done = true;
    this.#settle();
  }
  #settle(): void {
    const w = this.#waiter;
    if (!w || this.#items.length > 0) return;
    this.#waiter = undefined;
    if (this.#error) w.reject(this.#error);
    else w.resolve({ value: undefined, done: true });
    this.#detach();
  }
  #detach(): void {
    const d = this.#onDetach;
    this.#onDetach = undefined;
    d?.();
  }
  next(): Promise<IteratorResult<UpstreamMessage>> {
    const m = this.#items.shift();
    if (m) return Promise.resolve({ value: m, done: false });
    if (this.#done) {
      this.#detach();
      return this.#error ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }
  return(): Promise<IteratorResult<UpstreamMessage>> {
    this.#done = true;
    this.#items.length = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve({ value: undefined, done: true });
    this.#detach();
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

const BACKLOG_MAX = 1000;
/** `_meta` key naming the subscriptions/listen request a notification belongs to (2026-07-28). */
const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

export interface ChannelPeer {
  /** Write one message to the backend. */
  send(message: JsonObject): Promise<void>;
}

interface Pending {
  sink: Sink;
  /** Client's id, when the channel rewrote it (shared channel). */
  clientId: JsonRpcId;
  remaining: Set<JsonRpcId>;
  /** Progress token as the backend sees it, and as the client sent it. */
  upProgress: string | number | undefined;
  clientProgress: string | number | undefined;
}

function progressTokenOf(raw: JsonObject): string | number | undefined {
  const p = raw.params;
  if (!isObject(p) || !isObject(p._meta)) return undefined;
  const t = p._meta.progressToken;
  return typeof t === "string" || typeof t === "number" ? t : undefined;
}

export class MessageChannel {
  readonly #peer: ChannelPeer;
  /** A shared channel (several callers on one backend) rewrites request ids and progress tokens. */
  readonly #shared: boolean;
  readonly #byId = new Map<JsonRpcId, Pending>();
  readonly #byProgress = new Map<string | number, Pending>();
  readonly #active = new Set<Sink>();
  #listener: Sink | undefined;
  #backlog: UpstreamMessage[] = [];
  #closed: GatewayError | undefined;
  #seq = 0;
  lastActivity = Date.now();
  onDrop: ((reason: string) => void) | undefined;

  constructor(peer: ChannelPeer, shared = false) {
    this.#peer = peer;
    this.#shared = shared;
  }

  /** Requests waiting for an answer on this channel (0 = idle: the child may be reaped). */
  get inflight(): number {
    return this.#byId.size;
  }

  get closed(): GatewayError | undefined {
    return this.#closed;
  }

  /**
   * Send a POST's messages; the reply streams back the messages routed to it. When `signal` aborts
   * (timeout, client gone) the requests still open are cancelled at the backend and the reply fails.
   */
  async post(messages: readonly RpcMessage[], signal?: AbortSignal): Promise<UpstreamReply> {
    if (this.#closed) throw this.#closed;
    this.lastActivity = Date.now();
    // On a shared backend a client's cancellation would name ids of other callers: the gateway
    // cancels on their behalf instead (abort of the request's signal).
    if (this.#shared) messages = messages.filter((m) => m.method !== "notifications/cancelled");
    const requests = messages.filter((m) => m.kind === "request");
    if (requests.length === 0) {
      for (const m of messages) await this.#send(m.raw);
      return { kind: "accepted" };
    }
    const entries: Pending[] = [];
    const sink = new Sink(() => {
      this.#active.delete(sink);
      for (const e of entries) {
        for (const id of e.remaining) this.#byId.delete(id);
        if (e.upProgress !== undefined) this.#byProgress.delete(e.upProgress);
      }
    });
    const remaining = new Set<JsonRpcId>();
    const out: JsonObject[] = [];
    for (const m of messages) {
      if (m.kind !== "request") {
        out.push(m.raw);
        continue;
      }
      let raw = m.raw;
      let upId = m.id as JsonRpcId;
      const token = progressTokenOf(raw);
      const entry: Pending = { sink, clientId: upId, remaining, upProgress: token, clientProgress: token };
      if (this.#shared) {
        upId = `g${++this.#seq}`;
        raw = { ...raw, id: upId };
        if (token !== undefined) {
          entry.upProgress = `gp${this.#seq}`;
          const params = raw.params as JsonObject;
          raw.params = { ...params, _meta: { ...(params._meta as JsonObject), progressToken: entry.upProgress } };
        }
      }
      if (this.#byId.has(upId)) throw new GatewayError("INVALID_REQUEST", `request id ${JSON.stringify(upId)} is already in flight`);
      remaining.add(upId);
      this.#byId.set(upId, entry);
      if (entry.upProgress !== undefined) this.#byProgress.set(entry.upProgress, entry);
      entries.push(entry);
      out.push(raw);
    }
    this.#active.add(sink);
    if (signal) {
      const onAbort = () => {
        if (sink.done) return;
        for (const id of remaining) {
          void this.#peer
            .send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: "gateway: request aborted" } })
            .catch(() => {});
        }
        const r = signal.reason;
        sink.fail(r instanceof GatewayError ? r : new GatewayError("UPSTREAM_CLOSED", "request aborted"));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    try {
      for (const raw of out) await this.#send(raw);
    } catch (e) {
      sink.fail(e instanceof GatewayError ? e : new GatewayError("UPSTREAM_CLOSED"));
    }
    return { kind: "messages", stream: "auto", messages: sink, sessionId: undefined };
  }

  /** The stream of messages that belong to no request (downstream GET). Replaces an older listener. */
  listen(): UpstreamReply {
    if (this.#closed) throw this.#closed;
    this.#listener?.end();
    const sink: Sink = new Sink(() => {
      if (this.#listener === sink) this.#listener = undefined;
    });
    this.#listener = sink;
    for (const m of this.#backlog) sink.push(m);
    this.#backlog = [];
    return { kind: "messages", stream: true, messages: sink, sessionId: undefined };
  }

  async #send(raw: JsonObject): Promise<void> {
    try {
      await this.#peer.send(raw);
    } catch {
      throw this.#closed ?? new GatewayError("UPSTREAM_CLOSED", "cannot write to backend");
    }
  }

  /** A message from the backend. */
  receive(message: JsonObject, text: string | undefined): void {
    this.lastActivity = Date.now();
    const isResponse = message.method === undefined;
    if (isResponse) {
      const id = message.id as JsonRpcId;
      const p = this.#byId.get(id);
      if (!p) {
        this.onDrop?.(`response to unknown request id ${JSON.stringify(id)}`);
        return;
      }
      this.#byId.delete(id);
      p.remaining.delete(id);
      if (p.upProgress !== undefined) this.#byProgress.delete(p.upProgress);
      const m = this.#shared
        ? { message: { ...message, id: p.clientId }, text: undefined, eventId: undefined }
        : { message, text, eventId: undefined };
      p.sink.push(m);
      if (p.remaining.size === 0) p.sink.end();
      return;
    }
    if (message.method === "notifications/progress" && isObject(message.params)) {
      const token = message.params.progressToken;
      const p = typeof token === "string" || typeof token === "number" ? this.#byProgress.get(token) : undefined;
      if (p) {
        if (this.#shared) {
          p.sink.push({
            message: { ...message, params: { ...message.params, progressToken: p.clientProgress } },
            text: undefined,
            eventId: undefined,
          });
        } else {
          p.sink.push({ message, text, eventId: undefined });
        }
        return;
      }
    }
    // 2026-07-28 subscriptions/listen: the acknowledgement and every change notification name the
    // listen request in `_meta[SUBSCRIPTION_ID]`; they belong to that request's stream.
    const params = message.params;
    const subId = isObject(params) && isObject(params._meta) ? params._meta[SUBSCRIPTION_ID] : undefined;
    if (typeof subId === "string" || typeof subId === "number") {
      const p = this.#byId.get(subId);
      if (p && isObject(params)) {
        if (this.#shared) {
          const meta = { ...(params._meta as JsonObject), [SUBSCRIPTION_ID]: p.clientId };
          p.sink.push({ message: { ...message, params: { ...params, _meta: meta } }, text: undefined, eventId: undefined });
        } else {
          p.sink.push({ message, text, eventId: undefined });
        }
        return;
      }
    }
    this.#unrelated({ message, text, eventId: undefined });
  }

  #unrelated(m: UpstreamMessage): void {
    if (this.#shared) {
      // Several callers share this backend: a message that names no request of theirs goes to nobody.
      this.onDrop?.(`unrelated ${String(m.message?.method)} on a shared backend`);
      return;
    }
    // A server request (sampling, elicitation, roots) during a call most likely belongs to the newest
    // open call; the client answers it by POST whichever stream carried it.
    let newest: Sink | undefined;
    for (const s of this.#active) newest = s;
    const target = newest ?? this.#listener;
    if (target) {
      target.push(m);
      return;
    }
    if (this.#backlog.length >= BACKLOG_MAX) {
      this.#backlog.shift();
      this.onDrop?.("backlog full; oldest unrelated message dropped");
    }
    this.#backlog.push(m);
  }

  /** The backend is gone: every in-flight request fails with `error`. */
  close(error: GatewayError): void {
    if (this.#closed) return;
    this.#closed = error;
    for (const s of this.#active) s.fail(error);
    this.#active.clear();
    this.#byId.clear();
    this.#byProgress.clear();
    this.#listener?.fail(error);
    this.#listener = undefined;
  }
}

/** Identifies this gateway process in process-local session bindings ("<instance>:<key>"). */
export const INSTANCE_ID = randomBytes(6).toString("base64url");

export function localBinding(key: string): string {
  return `${INSTANCE_ID}:${key}`;
}

/** The key of a binding made by this process; undefined for none or another replica's. */
export function localKey(bind: string | undefined): string | undefined {
  return bind?.startsWith(`${INSTANCE_ID}:`) ? bind.slice(INSTANCE_ID.length + 1) : undefined;
}

/** A session on a connection-scoped backend (stdio child, legacy SSE connection) of this process. */
export class ChannelSession implements UpstreamSession {
  readonly local = true;
  readonly #channel: MessageChannel;
  readonly #bind: string | undefined;
  readonly #end: () => void;
  /** `end` forgets the session and closes its backend (kill the child, drop the connection). */
  constructor(channel: MessageChannel, bind: string | undefined, end: () => void) {
    this.#channel = channel;
    this.#bind = bind;
    this.#end = end;
  }
  state(): SessionState {
    return this.#bind ? { bind: this.#bind } : {};
  }
  post(_body: string, messages: readonly RpcMessage[], ctx: UpstreamCallContext): Promise<UpstreamReply> {
    return this.#channel.post(messages, ctx.signal);
  }
  async listen(): Promise<UpstreamReply> {
    return this.#channel.listen();
  }
  async terminate(): Promise<void> {
    this.#end();
  }
}
