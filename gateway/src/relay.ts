// The protocol-aware relay: runs the filter chain over one downstream HTTP request, sends what
// survives to the backend and turns every message that comes back into an outgoing event.
// It is independent of how the answer is written (Streamable HTTP JSON/SSE, or a legacy SSE stream).

import type { IncomingHttpHeaders } from "node:http";
import type { Chain } from "./chain/chain.ts";
import type { Exchange, LocalReply, Principal } from "./chain/types.ts";
import { batchesAllowed, DEFAULT_HTTP_VERSION, isSessionless } from "./codec/era.ts";
import { eraRefusal } from "./codec/era-methods.ts";
import { parseExchange } from "./codec/era-rules.ts";
import { unambiguousText } from "./codec/json-depth.ts";
import { errorResponse, isObject, type JsonObject, type JsonRpcId, type RpcMessage, toMessage } from "./codec/jsonrpc.ts";
import { spliceMeta } from "./codec/splice-meta.ts";
import { channels, type MessageEvent, type UpstreamEvent } from "./diagnostics.ts";
import { GatewayError } from "./errors.ts";
import { traceFields } from "./log/message-facts.ts";
import type { Logger } from "./logger.ts";
import { ClientRequests } from "./relay-client-requests.ts";
import { endMessage, failed, traced, upstreamEnd, upstreamStart } from "./relay-events.ts";
import { InflightIds } from "./session/inflight-ids.ts";
import type { SessionClaims } from "./session/sealed-session.ts";
import type { SessionStage } from "./session/session-stage.ts";
import { BodyMessages } from "./upstream/body.ts";
import { upstreamHeaders } from "./upstream/forward-headers.ts";
import type { Upstream, UpstreamCallContext, UpstreamMessage, UpstreamReply, UpstreamSession } from "./upstream/types.ts";

export interface Route {
  readonly name: string;
  readonly upstream: Upstream;
  /** Per-request timeout (ms), reset by every message the backend sends for the request. */
  readonly timeoutMs: number;
}

/** The Exchange of one downstream request, plus what the relay itself tracks. */
export class ExchangeImpl implements Exchange {
  readonly server: string;
  readonly downstream: Exchange["downstream"];
  readonly httpMethod: Exchange["httpMethod"];
  readonly headers: IncomingHttpHeaders;
  readonly url: string;
  readonly clientAddress: string;
  readonly start = performance.now();
  protocolVersion: string;
  messages: RpcMessage[] = [];
  batch = false;
  principal: Principal | undefined = undefined;
  session: SessionClaims | undefined = undefined;
  sessionId: string | undefined = undefined;
  // Backend credentials live here as plain strings (undici and spawn need them): non-enumerable, so
  // JSON.stringify / util.inspect of an exchange (a log line, a subscriber) can never print them.
  declare readonly upstreamHeaders: Record<string, string>;
  declare readonly upstreamEnv: Record<string, string>;
  readonly vars = new Map<symbol, unknown>();
  readonly gatewayId: string | undefined;
  /** The body carries an initialize request: the session is opened by this exchange. */
  opening = false;
  /** A message was rewritten at parse time (canonical resource URIs): the body is re-serialised. */
  rewritten = false;
  /** The authn stage already ran from the headers, before the body was read (listener). */
  authenticated = false;
  /** 2026-07-28: no session. */
  modern = false;
  upstreamSession: UpstreamSession | undefined = undefined;
  traceEvent: MessageEvent | undefined = undefined;
  telemetrySlot: unknown = undefined;
  askClient: Exchange["askClient"] = undefined;

  constructor(
    server: string,
    downstream: Exchange["downstream"],
    httpMethod: Exchange["httpMethod"],
    headers: IncomingHttpHeaders,
    clientAddress: string,
    url = "",
    gatewayId?: string,
  ) {
    Object.defineProperty(this, "upstreamHeaders", { value: {}, enumerable: false });
    Object.defineProperty(this, "upstreamEnv", { value: {}, enumerable: false });
    this.server = server;
    this.url = url;
    this.gatewayId = gatewayId;
    this.downstream = downstream;
    this.httpMethod = httpMethod;
    this.headers = headers;
    this.clientAddress = clientAddress;
    const h = headers["mcp-protocol-version"];
    this.protocolVersion = typeof h === "string" ? h : DEFAULT_HTTP_VERSION;
  }
}

/** One event to write downstream. `data` undefined = id/retry-only SSE event. */
export interface OutEvent {
  readonly data: string | undefined;
  readonly id: string | undefined;
  readonly retry: number | undefined;
}

export type Outcome =
  | { readonly type: "error"; readonly reply: LocalReply }
  | { readonly type: "accepted" }
  | { readonly type: "empty"; readonly status: number }
  | { readonly type: "http-error"; readonly status: number; readonly contentType: string | undefined; readonly body: string }
  | { readonly type: "json"; readonly body: string; readonly sessionId: string | undefined }
  | {
      readonly type: "stream";
      readonly events: AsyncIterable<OutEvent>;
      readonly sessionId: string | undefined;
      cancel(reason: GatewayError): void;
    };

const err = (code: ConstructorParameters<typeof GatewayError>[0], detail?: string): Outcome => ({
  type: "error",
  reply: { error: new GatewayError(code, detail) },
});

/** Per upstream call: an abort controller and a timeout that every backend message re-arms. */
class CallTimer {
  readonly controller = new AbortController();
  readonly #timer: NodeJS.Timeout | undefined;
  constructor(ms: number) {
    if (ms > 0) {
      this.#timer = setTimeout(() => this.controller.abort(new GatewayError("UPSTREAM_TIMEOUT", `no answer within ${ms} ms`)), ms);
      this.#timer.unref();
    }
  }
  touch(): void {
    this.#timer?.refresh();
  }
  done(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }
}

function asGatewayError(e: unknown, signal: AbortSignal | undefined): GatewayError {
  if (signal?.aborted && signal.reason instanceof GatewayError) return signal.reason;
  if (e instanceof GatewayError) return e;
  return new GatewayError("INTERNAL_ERROR", undefined, { cause: e });
}

export interface RelayOptions {
  chain: Chain;
  /** The session stage (also in `chain`): seals new sessions, remembers ended ones. */
  sessions: SessionStage;
  logger: Logger;
  /** A GET stream that carries no message for this long is ended (ms; 0 = never). */
  streamIdleTimeoutMs?: number;
}

export class Relay {
  readonly #o: RelayOptions;
  /** Request ids of each session still being answered (duplicates are refused). */
  readonly #inflight = new InflightIds();
  /** Requests the gateway itself sends to clients (approval stage), and whether any stage may send one. */
  readonly #clientRequests = new ClientRequests();
  readonly #asks: boolean;

  constructor(o: RelayOptions) {
    this.#o = o;
    this.#asks = o.chain.filters.some((f) => f.stage === "approval");
  }

  /** Parse a POST body into the exchange and apply the era rules that need no identity (codec/era-rules.ts). */
  parse(ex: ExchangeImpl, bodyText: string): GatewayError | undefined {
    return parseExchange(ex, bodyText);
  }

  /** The authn stage alone, from the headers, before any byte of the body is read (listener). */
  authenticate(ex: ExchangeImpl): LocalReply | undefined | Promise<LocalReply | undefined> {
    return this.#o.chain.runRequestStage(ex, "authn");
  }

  /** A 2024-11-05 `GET /sse`: the same chain as every request runs before the stream (and its session) opens. */
  admitStream(ex: ExchangeImpl): Promise<LocalReply | undefined> {
    return this.#runRequest(ex);
  }

  async #runRequest(ex: ExchangeImpl): Promise<LocalReply | undefined> {
    const v = ex.authenticated ? this.#o.chain.runRequestAfter(ex, "authn") : this.#o.chain.runRequest(ex);
    return v instanceof Promise ? await v : v;
  }

  /**
   * POST: relay the messages of one request body. `admitted` runs once the chain let the messages
   * through, just before they go upstream (the 2024-11-05 endpoint answers its POST 202 there).
   * Request ids stay claimed for the session until their answers are written (duplicates are refused).
   */
  async post(
    ex: ExchangeImpl,
    route: Route,
    bodyText: string,
    clientGone?: AbortSignal,
    parseError?: GatewayError,
    admitted?: () => void,
  ): Promise<Outcome> {
    const held: { session?: string; ids?: JsonRpcId[] } = {};
    let o: Outcome;
    try {
      // A single tools/call over Streamable HTTP may need to ask the client first (approval stage): its
      // answer then becomes an SSE stream that carries the gateway's request before the call's own answer.
      const m = ex.messages[0];
      const asks =
        this.#asks &&
        !parseError &&
        !ex.modern &&
        !ex.batch &&
        ex.downstream === "streamable-http" &&
        m?.method === "tools/call" &&
        m.kind === "request" &&
        ex.messages.length === 1;
      const run = this.#post(ex, route, bodyText, clientGone, parseError, admitted, held);
      o = await (asks ? this.#clientRequests.offer(ex, clientGone).run(run) : run);
    } catch (e) {
      if (held.ids) this.#inflight.release(held.session!, held.ids);
      throw e;
    }
    if (!held.ids) return o;
    const release = () => {
      if (held.ids) this.#inflight.release(held.session!, held.ids);
      held.ids = undefined;
    };
    if (o.type !== "stream") {
      release();
      return o;
    }
    // A streamed answer keeps its ids in flight until the stream ends (or is cancelled).
    const events = o.events;
    return {
      ...o,
      events: (async function* () {
        try {
          yield* events;
        } finally {
          release();
        }
      })(),
      cancel: (r) => {
        release();
        o.cancel(r);
      },
    };
  }

  async #post(
    ex: ExchangeImpl,
    route: Route,
    bodyText: string,
    clientGone: AbortSignal | undefined,
    parseError: GatewayError | undefined,
    admitted: (() => void) | undefined,
    held: { session?: string; ids?: JsonRpcId[] },
  ): Promise<Outcome> {
    const chain = this.#o.chain;
    if (parseError) {
      if (ex.authenticated) return { type: "error", reply: { error: parseError } };
      // An unparseable body still meets authn first: an anonymous caller learns nothing but 401.
      const v = chain.runRequestStage(ex, "authn");
      const denied = v instanceof Promise ? await v : v;
      return { type: "error", reply: denied ?? { error: parseError } };
    }
    const trace = traced();
    // Every message is announced before any stage runs, so a refusal at authn is traced and audited too.
    const msgEvents: Array<MessageEvent | undefined> = trace
      ? ex.messages.map((message) => {
          const ev: MessageEvent = { exchange: ex, message, direction: "client-to-server", start: performance.now() };
          channels.messageStart.publish(ev);
          ex.traceEvent ??= ev;
          return ev;
        })
      : [];
    let reply = await this.#runRequest(ex);
    if (!reply && ex.batch && !batchesAllowed(ex.protocolVersion)) {
      reply = { error: new GatewayError("BATCH_NOT_ALLOWED", `protocol version is ${ex.protocolVersion}`) };
    }
    // A method of another protocol era would be held open (or misread) by the backend: refused at once.
    if (!reply) {
      const wrong = eraRefusal(ex.messages, ex.protocolVersion);
      if (wrong) reply = { error: wrong };
    }
    if (!reply && ex.sessionId !== undefined && !ex.modern) {
      const ids = ex.messages.filter((m) => m.kind === "request").map((m) => m.id!);
      const clash = ids.length > 0 ? this.#inflight.claim(ex.sessionId, ids) : undefined;
      if (clash !== undefined) {
        reply = {
          error: new GatewayError("DUPLICATE_REQUEST_ID", `id ${JSON.stringify(clash).slice(0, 64)} is still in flight in this session`),
        };
      } else if (ids.length > 0) {
        held.session = ex.sessionId;
        held.ids = ids;
      }
    }
    if (reply) {
      for (const ev of msgEvents) endMessage(ev, undefined, reply.error);
      return { type: "error", reply };
    }

    const forwarded: RpcMessage[] = [];
    const local: JsonObject[] = [];
    const events = new Map<JsonRpcId, MessageEvent>();
    const oneWay: MessageEvent[] = [];
    const sentEvents: Array<MessageEvent | undefined> = [];
    for (let i = 0; i < ex.messages.length; i++) {
      const msg = ex.messages[i]!;
      const ev = msgEvents[i];
      // The client's answer to a request the gateway sent it: consumed here, never relayed upstream.
      if (msg.kind === "response" && this.#clientRequests.answer(ex, msg)) {
        endMessage(ev, undefined);
        continue;
      }
      let v = chain.runMessage(ex, msg);
      if (v instanceof Promise) v = await v;
      if (v) {
        // A single message refused with an HTTP-level challenge (e.g. step-up) is answered at HTTP level.
        if (!ex.batch && (v.headers || v.status)) {
          endMessage(ev, undefined, v.error);
          return { type: "error", reply: v };
        }
        if (msg.kind === "request") local.push(errorResponse(msg.id, v.error.toRpcError()));
        endMessage(ev, undefined, v.error);
        continue;
      }
      forwarded.push(msg);
      sentEvents.push(ev);
      if (ev) {
        if (msg.kind === "request") events.set(msg.id!, ev);
        else oneWay.push(ev);
      }
    }
    if (forwarded.length === 0) return local.length ? this.#json(local, ex.batch, undefined) : { type: "accepted" };

    // upstream.start comes first: subscribers set each message's trace context (the CLIENT span) there,
    // and it goes into that message's own `_meta` and, for the first message, the HTTP headers.
    const up = upstreamStart(ex, route, events, oneWay);
    let headerContext: Record<string, string> | undefined;
    let sent = forwarded;
    if (trace && sentEvents.some((e) => e?.propagation)) {
      sent = forwarded.map((m, i) => {
        const p = sentEvents[i]?.propagation;
        if (!p || m.kind === "response") return m;
        headerContext ??= p;
        return { ...m, raw: withMeta(m.raw, p) };
      });
    }
    let body: string | undefined = bodyText;
    if (forwarded.length !== ex.messages.length || ex.rewritten) body = undefined;
    else if (sent !== forwarded) {
      // Trace context only: spliced into the client's text when one message is sent (no re-serialisation).
      const p = sentEvents[0]?.propagation;
      body = !ex.batch && p && sent[0] !== forwarded[0] ? spliceMeta(bodyText, p, forwarded[0]!.raw.params) : undefined;
    }
    if (body === undefined) {
      const raws = sent.map((m) => m.raw);
      body = JSON.stringify(ex.batch ? raws : raws[0]);
    }
    const requests = forwarded.filter((m) => m.kind === "request");
    // subscriptions/listen (2026-07-28) is a long-lived stream by design: no per-request timeout.
    const longLived = requests.length === 1 && requests[0]!.method === "subscriptions/listen";
    const timer = new CallTimer(longLived ? 0 : route.timeoutMs);
    // The client hung up: stop waiting, abort the backend call (for 2026-07-28 that is the cancellation).
    clientGone?.addEventListener("abort", () => timer.controller.abort(new GatewayError("UPSTREAM_CLOSED", "client disconnected")), {
      once: true,
    });
    const ctx: UpstreamCallContext = {
      headers: upstreamHeaders(ex, headerContext),
      credentialHeaders: ex.upstreamHeaders,
      env: ex.upstreamEnv,
      signal: timer.controller.signal,
      protocolVersion: ex.protocolVersion,
      lastEventId: undefined,
      owner: ownerOf(ex.principal),
    };
    admitted?.();
    let upstreamReply: UpstreamReply;
    try {
      let us = ex.upstreamSession;
      if (!us) {
        us = ex.modern ? await route.upstream.stateless(ctx, sent) : await route.upstream.connect(ctx);
        ex.upstreamSession = us;
      }
      upstreamReply = await us.post(body, sent, ctx);
    } catch (e) {
      timer.done();
      const ge = asGatewayError(e, timer.controller.signal);
      upstreamEnd(up, ge, undefined);
      failed(this.#o.logger, ex, ge);
      for (const ev of oneWay) endMessage(ev, undefined, ge);
      if (requests.length === 0) return { type: "error", reply: { error: ge } };
      for (const r of requests) {
        local.push(errorResponse(r.id, ge.toRpcError()));
        endMessage(events.get(r.id!), undefined, ge);
      }
      await this.#abandon(ex);
      return this.#json(local, ex.batch, undefined);
    }
    for (const ev of oneWay) endMessage(ev, undefined);

    if (upstreamReply.kind === "accepted") {
      timer.done();
      upstreamEnd(up, undefined, 202);
      if (requests.length > 0) {
        // A backend that accepts a request without answering it: answer for it rather than hang.
        const ge = new GatewayError("UPSTREAM_BAD_RESPONSE", "backend accepted a request without answering it");
        for (const r of requests) {
          local.push(errorResponse(r.id, ge.toRpcError()));
          endMessage(events.get(r.id!), undefined, ge);
        }
      }
      return local.length ? this.#json(local, ex.batch, undefined) : { type: "accepted" };
    }
    if (upstreamReply.kind === "http-error") {
      timer.done();
      upstreamEnd(up, undefined, upstreamReply.status);
      return this.#httpError(ex, upstreamReply, requests, local, events);
    }
    return this.#messagesOutcome(ex, route, upstreamReply, requests, local, events, timer, up);
  }

  /** The backend said no at HTTP level: a lost session becomes 404, a client error is relayed, the rest are errors per request. */
  #httpError(
    ex: ExchangeImpl,
    r: Extract<UpstreamReply, { kind: "http-error" }>,
    requests: RpcMessage[],
    local: JsonObject[],
    events: Map<JsonRpcId, MessageEvent>,
  ): Outcome {
    if (r.status === 404 && ex.session) {
      void this.#o.sessions.ended(ex, "lost");
      const gone = new GatewayError("SESSION_NOT_FOUND", "the backend no longer knows this session");
      for (const ev of events.values()) endMessage(ev, undefined, gone);
      return { type: "error", reply: { error: gone } };
    }
    if (r.status >= 400 && r.status < 500 && r.contentType?.startsWith("application/json") && local.length === 0) {
      for (const ev of events.values()) endMessage(ev, undefined, new GatewayError("UPSTREAM_HTTP_ERROR", String(r.status)));
      return { type: "http-error", status: r.status, contentType: r.contentType, body: r.body };
    }
    const ge = new GatewayError("UPSTREAM_HTTP_ERROR", `HTTP ${r.status}`);
    failed(this.#o.logger, ex, ge);
    if (requests.length === 0) return { type: "error", reply: { error: ge } };
    for (const q of requests) {
      local.push(errorResponse(q.id, ge.toRpcError()));
      endMessage(events.get(q.id!), undefined, ge);
    }
    return this.#json(local, ex.batch, undefined);
  }

  async #messagesOutcome(
    ex: ExchangeImpl,
    route: Route,
    reply: Extract<UpstreamReply, { kind: "messages" }>,
    requests: RpcMessage[],
    local: JsonObject[],
    events: Map<JsonRpcId, MessageEvent>,
    timer: CallTimer,
    up: UpstreamEvent | undefined,
  ): Promise<Outcome> {
    const single = requests.length === 1 && local.length === 0 && !ex.batch;
    if (single && reply.messages instanceof BodyMessages && reply.messages.items.length === 1) {
      const um = reply.messages.items[0]!;
      const answer = answerTo(requests[0]!, um);
      if (answer) return this.#jsonAnswer(ex, route, requests[0]!, answer, um, events, timer, up, reply.sessionId);
    }
    const pending = new Map<JsonRpcId, RpcMessage>();
    for (const r of requests) pending.set(r.id!, r);
    const state = { sessionId: undefined as string | undefined };
    const it = reply.messages[Symbol.asyncIterator]();
    const gen = this.#relayMessages(ex, route, it, pending, events, timer, up, state, reply.sessionId);
    const cancel = (reason: GatewayError) => {
      timer.controller.abort(reason);
      void it.return?.();
    };
    if (reply.stream === false || (reply.stream === "auto" && single)) {
      // Collect. For "auto" (stdio, legacy SSE) we answer JSON when the first message is the response,
      // and switch to SSE when the backend sends anything before it (progress, a server request).
      const first = await gen.next();
      if (first.done) return this.#json(local, ex.batch, state.sessionId);
      const firstEv = first.value;
      if (reply.stream === "auto" && !firstEv.final) {
        return this.#stream(
          prepend([firstEv.ev], gen, (x) => x.ev),
          local,
          state.sessionId,
          cancel,
        );
      }
      const datas: string[] = [firstEv.ev.data!];
      for await (const x of gen) if (x.ev.data !== undefined) datas.push(x.ev.data);
      if (single && datas.length === 1) return { type: "json", body: datas[0]!, sessionId: state.sessionId };
      return { type: "json", body: `[${[...local.map((l) => JSON.stringify(l)), ...datas].join(",")}]`, sessionId: state.sessionId };
    }
    // SSE: wait for the first event so the session id (initialize) is known before the head is written.
    const first = await gen.next();
    const head: OutEvent[] = first.done ? [] : [first.value.ev];
    return this.#stream(
      prepend(head, gen, (x) => x.ev),
      local,
      state.sessionId,
      cancel,
    );
  }

  /**
   * The common case without async iteration: one request, answered by a complete JSON body holding just
   * its response. Does what #relayMessages does for that one message (response filters, withheld answer,
   * initialize → session, diagnostics), in the same order.
   */
  async #jsonAnswer(
    ex: ExchangeImpl,
    route: Route,
    request: RpcMessage,
    msg: RpcMessage,
    um: UpstreamMessage,
    events: Map<JsonRpcId, MessageEvent>,
    timer: CallTimer,
    up: UpstreamEvent | undefined,
    upstreamSessionId: string | undefined,
  ): Promise<Outcome> {
    let out: RpcMessage | undefined = msg;
    try {
      if (this.#o.chain.hasUpstreamFilters) {
        const r = this.#o.chain.runUpstream(ex, msg, request);
        out = r instanceof Promise ? await r : r;
      }
    } finally {
      timer.done();
    }
    out ??= withheld(msg);
    const sessionId = this.#answered(ex, route, request, out, upstreamSessionId, events);
    upstreamEnd(up, undefined, 200);
    return { type: "json", body: this.#relayedText(out, msg, um, request), sessionId };
  }

  /**
   * The text to relay for a backend message: its own bytes when nothing changed it, unless a response
   * filter judged the parsed value and the text could read differently elsewhere (a member named twice):
   * then the gateway's serialisation of what it judged.
   */
  #relayedText(out: RpcMessage, msg: RpcMessage, um: UpstreamMessage, request?: RpcMessage): string {
    if (out !== msg || um.text === undefined) return JSON.stringify(out.raw);
    // Lists are what response filters decide on (authz hides entries, pins check definitions); elsewhere a
    // second reading of the text changes no decision (a task id read differently is simply not found).
    if (!this.#o.chain.hasUpstreamFilters || !JUDGED_LISTS.has(request?.method ?? "")) return um.text;
    return unambiguousText(um.text) ?? JSON.stringify(out.raw);
  }

  #stream(events: AsyncIterable<OutEvent>, local: JsonObject[], sessionId: string | undefined, cancel: (r: GatewayError) => void): Outcome {
    const localEvents: OutEvent[] = local.map((l) => ({ data: JSON.stringify(l), id: undefined, retry: undefined }));
    return { type: "stream", events: localEvents.length ? prepend(localEvents, events) : events, sessionId, cancel };
  }

  #json(msgs: JsonObject[], batch: boolean, sessionId: string | undefined): Outcome {
    return { type: "json", body: JSON.stringify(batch || msgs.length !== 1 ? msgs : msgs[0]), sessionId };
  }

  /**
   * Every message from the backend, through the response filters, in order. Requests that never get
   * an answer (backend died, timed out, stream ended) get a JSON-RPC error, so no client hangs.
   */
  async *#relayMessages(
    ex: ExchangeImpl,
    route: Route,
    it: AsyncIterator<UpstreamMessage>,
    pending: Map<JsonRpcId, RpcMessage>,
    events: Map<JsonRpcId, MessageEvent>,
    timer: CallTimer,
    up: UpstreamEvent | undefined,
    state: { sessionId: string | undefined },
    upstreamSessionId: string | undefined,
  ): AsyncGenerator<{ ev: OutEvent; final: boolean }> {
    const chain = this.#o.chain;
    const filtered = chain.hasUpstreamFilters;
    const signal = timer.controller.signal;
    let failure: GatewayError | undefined;
    let resumable = false;
    // initialize: hold events until the InitializeResult has been seen, so the session id is known first.
    const held: Array<{ ev: OutEvent; final: boolean }> | undefined = ex.opening ? [] : undefined;
    let holding = ex.opening;
    try {
      while (pending.size > 0) {
        let r: IteratorResult<UpstreamMessage>;
        try {
          r = await it.next();
        } catch (e) {
          failure = asGatewayError(e, signal);
          break;
        }
        if (r.done) {
          if (signal.aborted) failure = asGatewayError(undefined, signal);
          // A backend that numbered its events and then closed cleanly expects the client to resume with
          // GET + Last-Event-ID (SSE polling, 2025-11-25): the answer comes there, so no error here.
          else if (!resumable) failure = new GatewayError("UPSTREAM_CLOSED", "backend ended the stream before answering");
          break;
        }
        timer.touch();
        if (r.value.eventId !== undefined) resumable = true;
        const um = r.value;
        if (!um.message) {
          const ev = { data: undefined, id: um.eventId, retry: um.retry };
          if (holding) held!.push({ ev, final: false });
          else yield { ev, final: false };
          continue;
        }
        let msg: RpcMessage;
        try {
          msg = toMessage(um.message);
        } catch {
          this.#o.logger.warn("backend sent an invalid JSON-RPC message; dropped", { "mcp_gateway.server": ex.server, ...traceFields(ex) });
          continue;
        }
        const request = msg.kind === "response" ? pending.get(msg.id!) : undefined;
        if (request) pending.delete(msg.id!);
        let out: RpcMessage | undefined = msg;
        if (filtered) out = await chain.runUpstream(ex, msg, request);
        if (!out) {
          if (!request) continue;
          out = withheld(msg);
        }
        if (request) {
          const sid = this.#answered(ex, route, request, out, upstreamSessionId, events);
          if (request.method === "initialize" && ex.opening) {
            holding = false;
            state.sessionId = sid;
          }
        } else if (msg.kind !== "response" && traced()) {
          const sev: MessageEvent = { exchange: ex, message: out, direction: "server-to-client", start: performance.now() };
          channels.messageStart.publish(sev);
          endMessage(sev, undefined);
        }
        const data = this.#relayedText(out, msg, um, request);
        const item = { ev: { data, id: um.eventId, retry: um.retry }, final: request !== undefined && pending.size === 0 };
        if (holding) {
          held!.push(item);
          continue;
        }
        if (held?.length) yield* held.splice(0);
        yield item;
      }
    } finally {
      timer.done();
      if (pending.size > 0 || failure) void it.return?.();
    }
    if (held?.length) yield* held.splice(0);
    if (!failure && resumable && pending.size > 0) {
      // Handed over to the client's resumption: the messages' traces end here, without a response.
      for (const [id] of pending) endMessage(events.get(id), undefined);
      upstreamEnd(up, undefined, 200);
    } else if (failure || pending.size > 0) {
      const ge = failure ?? new GatewayError("UPSTREAM_CLOSED");
      upstreamEnd(up, ge, undefined);
      failed(this.#o.logger, ex, ge);
      let n = pending.size;
      for (const [id] of pending) {
        endMessage(events.get(id), undefined, ge);
        yield { ev: { data: JSON.stringify(errorResponse(id, ge.toRpcError())), id: undefined, retry: undefined }, final: --n === 0 };
      }
      if (ex.opening) await this.#abandon(ex);
    } else {
      upstreamEnd(up, undefined, 200);
    }
  }

  /** A request got its answer: open the session if it was initialize, end the message's trace. */
  #answered(
    ex: ExchangeImpl,
    route: Route,
    request: RpcMessage,
    out: RpcMessage,
    upstreamSessionId: string | undefined,
    events: Map<JsonRpcId, MessageEvent>,
  ): string | undefined {
    let sessionId: string | undefined;
    if (request.method === "initialize" && ex.opening) {
      sessionId = this.#o.sessions.openFromInitialize(ex, route, out.raw.result, upstreamSessionId);
      if (sessionId) ex.sessionId = sessionId;
      else void this.#abandon(ex);
    }
    endMessage(events.get(request.id!), out);
    return sessionId;
  }

  /** An initialize that failed leaves no process-local backend session behind. */
  async #abandon(ex: ExchangeImpl): Promise<void> {
    const us = ex.upstreamSession;
    if (ex.opening && us?.local) {
      ex.upstreamSession = undefined;
      await us
        .terminate({
          headers: {},
          credentialHeaders: {},
          env: {},
          signal: AbortSignal.timeout(5000),
          protocolVersion: ex.protocolVersion,
          lastEventId: undefined,
        })
        .catch(() => {});
    }
  }

  /** GET: the stream of server-initiated messages. */
  async get(ex: ExchangeImpl, route: Route, clientGone?: AbortSignal): Promise<Outcome> {
    const reply = await this.#runRequest(ex);
    if (reply) return { type: "error", reply };
    const pv = ex.headers["mcp-protocol-version"];
    if (typeof pv === "string" && isSessionless(pv)) return err("METHOD_NOT_ALLOWED", "2026-07-28 has no GET stream");
    return this.listen(ex, route, clientGone);
  }

  /** Open the backend's stream of server-initiated messages for an attached session (no filters run here). */
  async listen(ex: ExchangeImpl, route: Route, clientGone?: AbortSignal): Promise<Outcome> {
    const controller = new AbortController();
    // A client that leaves while its GET still waits for a backend connection cancels it there and then.
    clientGone?.addEventListener("abort", () => controller.abort(new GatewayError("UPSTREAM_CLOSED", "client disconnected")), {
      once: true,
    });
    const last = ex.headers["last-event-id"];
    const ctx: UpstreamCallContext = {
      headers: upstreamHeaders(ex, undefined),
      credentialHeaders: ex.upstreamHeaders,
      env: ex.upstreamEnv,
      signal: controller.signal,
      protocolVersion: ex.protocolVersion,
      lastEventId: typeof last === "string" ? last : undefined,
    };
    const up = upstreamStart(ex, route, undefined, []);
    let r: UpstreamReply;
    try {
      r = await ex.upstreamSession!.listen(ctx);
    } catch (e) {
      const ge = asGatewayError(e, controller.signal);
      upstreamEnd(up, ge, undefined);
      return { type: "error", reply: { error: ge } };
    }
    if (r.kind === "http-error") {
      upstreamEnd(up, undefined, r.status);
      if (r.status === 404) {
        void this.#o.sessions.ended(ex, "lost");
        return err("SESSION_NOT_FOUND", "the backend no longer knows this session");
      }
      // Whatever the backend wrote (often text/plain) is not for the client: a documented JSON-RPC error.
      if (r.status === 405) return err("METHOD_NOT_ALLOWED", "the backend offers no GET stream");
      const ge = new GatewayError("UPSTREAM_HTTP_ERROR", `HTTP ${r.status} on the GET stream`);
      failed(this.#o.logger, ex, ge);
      return { type: "error", reply: { error: ge } };
    }
    if (r.kind === "accepted") {
      upstreamEnd(up, undefined, 202);
      return { type: "empty", status: 202 };
    }
    const it = r.messages[Symbol.asyncIterator]();
    // A stream that carries no message for this long is ended (the client opens a new one if it wants).
    const idleMs = this.#o.streamIdleTimeoutMs ?? 0;
    const idle = idleMs > 0 ? setTimeout(() => controller.abort(new GatewayError("UPSTREAM_TIMEOUT", "stream idle")), idleMs) : undefined;
    idle?.unref();
    controller.signal.addEventListener("abort", () => void it.return?.(), { once: true });
    return {
      type: "stream",
      events: this.#listenEvents(ex, it, up, idle),
      sessionId: undefined,
      cancel: (reason) => {
        controller.abort(reason);
        void it.return?.();
      },
    };
  }

  async *#listenEvents(
    ex: ExchangeImpl,
    it: AsyncIterator<UpstreamMessage>,
    up: UpstreamEvent | undefined,
    idle?: NodeJS.Timeout,
  ): AsyncGenerator<OutEvent> {
    const chain = this.#o.chain;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        idle?.refresh();
        const um = r.value;
        if (!um.message) {
          yield { data: undefined, id: um.eventId, retry: um.retry };
          continue;
        }
        let msg: RpcMessage;
        try {
          msg = toMessage(um.message);
        } catch {
          continue;
        }
        const out = chain.hasUpstreamFilters ? await chain.runUpstream(ex, msg, undefined) : msg;
        if (!out) continue;
        if (traced()) {
          const sev: MessageEvent = { exchange: ex, message: out, direction: "server-to-client", start: performance.now() };
          channels.messageStart.publish(sev);
          endMessage(sev, undefined);
        }
        yield { data: this.#relayedText(out, msg, um), id: um.eventId, retry: um.retry };
      }
      upstreamEnd(up, undefined, 200);
    } catch (e) {
      upstreamEnd(up, asGatewayError(e, undefined), undefined);
    } finally {
      if (idle) clearTimeout(idle);
      void it.return?.();
    }
  }

  /** DELETE: end the session here and upstream. */
  async delete(ex: ExchangeImpl): Promise<Outcome> {
    const reply = await this.#runRequest(ex);
    if (reply) return { type: "error", reply };
    const pv = ex.headers["mcp-protocol-version"];
    if (typeof pv === "string" && isSessionless(pv)) return err("METHOD_NOT_ALLOWED", "2026-07-28 has no sessions");
    await this.terminate(ex);
    return { type: "empty", status: 200 };
  }

  /** End a session: upstream DELETE / kill the child, and refuse the id in this process from now on. */
  async terminate(ex: ExchangeImpl): Promise<void> {
    await this.#o.sessions.ended(ex, "deleted");
    try {
      await ex.upstreamSession?.terminate({
        headers: upstreamHeaders(ex, undefined),
        credentialHeaders: ex.upstreamHeaders,
        env: {},
        signal: AbortSignal.timeout(5000),
        protocolVersion: ex.protocolVersion,
        lastEventId: undefined,
      });
    } catch (e) {
      this.#o.logger.warn("ending the backend session failed", {
        "mcp_gateway.server": ex.server,
        "error.code": asGatewayError(e, undefined).code,
        ...traceFields(ex),
      });
    }
  }
}

/** The owner key of connection-scoped backend state: issuer and subject ("" when no authn is configured). */
export function ownerOf(p: Principal | undefined): string {
  return p ? `${p.iss} ${p.sub}` : "";
}

/** The backend message as the response to `request`, or undefined when it is anything else (general path). */
function answerTo(request: RpcMessage, um: UpstreamMessage): RpcMessage | undefined {
  if (!um.message) return undefined;
  let msg: RpcMessage;
  try {
    msg = toMessage(um.message);
  } catch {
    return undefined; // the general path logs and drops it
  }
  return msg.kind === "response" && msg.id === request.id ? msg : undefined;
}

/** The answer a client gets when a response filter dropped the backend's response to its request. */
function withheld(msg: RpcMessage): RpcMessage {
  return toMessage(errorResponse(msg.id, new GatewayError("INTERNAL_ERROR", "response withheld by policy").toRpcError()));
}

/** Responses whose content the response filters judge: relayed as their own text only if unambiguous. */
const JUDGED_LISTS = new Set(["tools/list", "prompts/list", "resources/list", "resources/templates/list", "tasks/list"]);

function withMeta(raw: JsonObject, add: Record<string, string>): JsonObject {
  const params = isObject(raw.params) ? raw.params : {};
  const meta = isObject(params._meta) ? params._meta : {};
  return { ...raw, params: { ...params, _meta: { ...meta, ...add } } };
}

async function* prepend<T, U>(head: T[], rest: AsyncIterable<U> | AsyncIterator<U>, map?: (u: U) => T): AsyncGenerator<T> {
  yield* head;
  const it = Symbol.asyncIterator in rest ? (rest as AsyncIterable<U>)[Symbol.asyncIterator]() : (rest as AsyncIterator<U>);
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield map ? map(r.value) : (r.value as unknown as T);
  }
}
