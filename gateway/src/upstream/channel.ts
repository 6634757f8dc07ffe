// Message routing for connection-scoped backends (stdio, legacy HTTP+SSE): one ordered stream of
// messages from the backend is split per downstream request by JSON-RPC id and progress token.
// Messages that belong to no request go to the GET stream, else the newest open POST stream, else a
// bounded per-session buffer that the next GET stream receives first (docs/design/relay.md).

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
  /** Everything queued and not read yet, even once done (the buffer of a held request). */
  takeAll(): UpstreamMessage[] {
    return this.#items.splice(0);
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * A request of a shared channel taken off its downstream stream while the backend waits for input it
 * asked for (a 2025-era server→client request mapped onto a 2026-07-28 `input_required` round trip).
 */
export interface HeldRequest {
  /** Continue on a new downstream request: what the backend sent meanwhile, and the rest, stream back there. */
  resume(clientId: JsonRpcId, signal: AbortSignal | undefined): UpstreamReply;
  /** Give up: forget it (the backend's eventual answer is dropped). */
  drop(): void;
}

/** Unrelated messages held while no stream is open: at most this many, and this many bytes; the oldest go first. */
export const BACKLOG_MAX = 1000;
export const BACKLOG_MAX_BYTES = 4 * 1024 * 1024;
/** `_meta` key naming the subscriptions/listen request a notification belongs to (2026-07-28). */
const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

export interface ChannelPeer {
  /** Write one message to the backend. */
  send(message: JsonObject): Promise<void>;
}

interface Pending {
  sink: Sink;
  /** The entries whose ids the sink's end unregisters (those of one POST). */
  group: Pending[];
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
  #backlogBytes = 0;
  /** Messages dropped from the backlog since the last GET stream took it (logged once per overflow). */
  #overflowed = 0;
  #closed: GatewayError | undefined;
  #seq = 0;
  lastActivity = Date.now();
  onDrop: ((reason: string) => void) | undefined;
  /**
   * Shared channels only: a server→client request that names no caller's request (a 2025-era backend
   * held for 2026-07-28 callers). Returns the answer to send at once, or undefined when it is answered
   * later (backend-era.ts). Unset: such requests are dropped like notifications.
   */
  onServerRequest: ((request: JsonObject) => JsonObject | undefined) | undefined;
  /** The buffer of unrelated messages overflowed (first drop since the last GET stream opened). */
  onOverflow: ((dropped: number) => void) | undefined;

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

  /** Requests in flight: a busy backend is never stopped for idleness. */
  get busy(): boolean {
    return this.#byId.size > 0;
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
      const entry: Pending = { sink, group: entries, clientId: upId, remaining, upProgress: token, clientProgress: token };
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
    this.#backlogBytes = 0;
    this.#overflowed = 0;
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
      if (p.remaining.size === 0) {
        // Every request of that POST is answered: its stream is finished and takes nothing more
        // (issue 10, bugs 1–2: later unrelated messages went into it and vanished).
        this.#active.delete(p.sink);
        p.sink.end();
      }
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
      const msg = m.message;
      if (msg && this.onServerRequest && msg.id !== undefined && typeof msg.method === "string") {
        const answer = this.onServerRequest(msg);
        if (answer) void this.#peer.send(answer).catch(() => {});
        return;
      }
      this.onDrop?.(`unrelated ${String(m.message?.method)} on a shared backend`);
      return;
    }
    // The session's GET stream is where unrelated messages belong (as on a Streamable HTTP backend).
    // Without one, a stream that is still open carries it (a server request during a call must not wait
    // for a GET that may never come; the client answers by POST whichever stream carried it). Without
    // either, the message waits in a bounded buffer for the next GET stream.
    if (this.#listener && !this.#listener.done) {
      this.#listener.push(m);
      return;
    }
    let newest: Sink | undefined;
    for (const s of this.#active) if (!s.done) newest = s;
    if (newest) {
      newest.push(m);
      return;
    }
    const size = m.text?.length ?? 256;
    this.#backlog.push(m);
    this.#backlogBytes += size;
    while (this.#backlog.length > BACKLOG_MAX || (this.#backlogBytes > BACKLOG_MAX_BYTES && this.#backlog.length > 1)) {
      const old = this.#backlog.shift()!;
      this.#backlogBytes -= old.text?.length ?? 256;
      if (this.#overflowed++ === 0) this.onOverflow?.(1);
      this.onDrop?.("unrelated-message buffer full; oldest dropped");
    }
  }

  /** Write one message to the backend outside any request (an answer to its server→client request). */
  async sendRaw(message: JsonObject): Promise<void> {
    await this.#send(message);
  }

  /**
   * Shared channels: take the only request in flight off its stream; `last(clientId)` becomes its last
   * message there. Undefined unless exactly one request (of a one-request POST) is in flight.
   */
  hold(last: (clientId: JsonRpcId) => JsonObject): HeldRequest | undefined {
    const open = new Set<Pending>();
    for (const p of this.#byId.values()) if (!p.sink.done) open.add(p);
    if (open.size !== 1) return undefined;
    const p = [...open][0]!;
    if (p.remaining.size !== 1) return undefined;
    const old = p.sink;
    // The old sink's end must no longer unregister this request: it continues elsewhere.
    p.group.splice(p.group.indexOf(p), 1);
    p.group = [p];
    const buffer = new Sink();
    p.sink = buffer;
    this.#active.delete(old);
    old.push({ message: last(p.clientId), text: undefined, eventId: undefined });
    old.end();
    const forget = () => {
      for (const id of p.remaining) this.#byId.delete(id);
      if (p.upProgress !== undefined) this.#byProgress.delete(p.upProgress);
    };
    return {
      resume: (clientId, signal) => {
        const before = p.clientId;
        p.clientId = clientId;
        const sink: Sink = new Sink(() => {
          this.#active.delete(sink);
          forget();
        });
        p.sink = sink;
        for (const m of buffer.takeAll()) {
          const msg = m.message;
          // A response that came while held names the old client id.
          if (msg && msg.method === undefined && msg.id === before)
            sink.push({ message: { ...msg, id: clientId }, text: undefined, eventId: undefined });
          else sink.push(m);
        }
        if (p.remaining.size === 0) sink.end();
        else {
          this.#active.add(sink);
          signal?.addEventListener(
            "abort",
            () => {
              if (sink.done) return;
              for (const id of p.remaining) {
                void this.#peer
                  .send({
                    jsonrpc: "2.0",
                    method: "notifications/cancelled",
                    params: { requestId: id, reason: "gateway: request aborted" },
                  })
                  .catch(() => {});
              }
              const r = signal.reason;
              sink.fail(r instanceof GatewayError ? r : new GatewayError("UPSTREAM_CLOSED", "request aborted"));
            },
            { once: true },
          );
        }
        return { kind: "messages", stream: "auto", messages: sink, sessionId: undefined };
      },
      drop: () => {
        forget();
        buffer.end();
      },
    };
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
