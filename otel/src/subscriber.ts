// Turns the gateway's diagnostics events into spans and metric points: a SERVER span per received
// message, INTERNAL spans per filter stage, a CLIENT span per message sent upstream (MCP semconv "Spans").

import type { Channel } from "node:diagnostics_channel";
import { type Attributes, type Context, type Link, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { Exchange } from "../../gateway/src/chain/types.ts";
import type { RpcMessage } from "../../gateway/src/codec/jsonrpc.ts";
import {
  channels,
  type ErrorEvent,
  type MessageEvent,
  type SessionEvent,
  type StageEvent,
  type UpstreamEvent,
} from "../../gateway/src/diagnostics.ts";
import { ERRORS } from "../../gateway/src/errors.ts";
import { errorTypeOf, hashSessionId, metaOf, rpcErrorOf, STATELESS_ERA } from "../../gateway/src/log/message-facts.ts";
import { compileRedactor, isSensitiveKey, type PayloadRedactor, REDACTED, redactString } from "../../gateway/src/log/redact.ts";
import * as A from "./attributes.ts";
import type { Instruments } from "./metrics.ts";
import { type Extracted, extractFromHeaders, extractFromMeta, injectRecord } from "./propagation.ts";

export interface SubscriberOptions {
  /** Only events of this gateway (Exchange.gatewayId); unset: every gateway in the process. */
  gatewayId?: string | undefined;
  recordArguments?: boolean;
  recordResults?: boolean;
  redact?: readonly string[];
  resourceUriInSpanName?: boolean;
  /** INTERNAL spans per filter stage (default true). Off: stage metrics and the authz decision tag remain. */
  stageSpans?: boolean;
}

/** What the subscriber keeps for one received message (in MessageEvent.slot). */
interface MsgState {
  readonly span: Span;
  readonly ctx: Context;
  readonly name: string;
  /** Low-cardinality attributes shared by the span and the duration metrics. */
  readonly metricAttrs: Attributes;
  readonly baggage: string | undefined;
  sessionSet: boolean;
}

interface UpstreamState {
  readonly spans: Span[];
  readonly address: string | undefined;
}

/** A per-request stage (authn, session) that ran before any message span existed. */
interface PendingStage {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly attributes: Attributes;
  readonly replied: string | undefined;
}

interface ExState {
  readonly headers: Extracted;
  /** The first client→server message of the request: parent of per-request stages and stream messages. */
  first: MsgState | undefined;
  /** Per-request stages that ended before the first message span started; replayed under it. */
  pending: PendingStage[] | undefined;
}

/** Marks a StageEvent whose span is deferred (see PendingStage). */
const DEFERRED = Symbol("deferred");
const MAX_PENDING = 16;

function targetAttrs(msg: RpcMessage, into: Attributes): void {
  const t = msg.target;
  if (t === undefined) return;
  switch (msg.method) {
    case "tools/call":
      into[A.GEN_AI_TOOL_NAME] = t;
      into[A.GEN_AI_OPERATION_NAME] = "execute_tool";
      return;
    case "prompts/get":
      into[A.GEN_AI_PROMPT_NAME] = t;
      return;
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      into[A.MCP_RESOURCE_URI] = redactString(t);
      return;
    default:
      into[A.GW_TARGET] = redactString(t);
  }
}

function rpcCodeOf(code: string): string | undefined {
  const spec = (ERRORS as Record<string, { rpc: number } | undefined>)[code];
  return spec ? String(spec.rpc) : undefined;
}

function portOf(address: string): { host: string; port: number | undefined } {
  // "host:port", "[v6]:port" or a bare command name (stdio).
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  if (!m) return { host: address, port: undefined };
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

export class TelemetrySubscriber {
  readonly #tracer: Tracer;
  readonly #m: Instruments | undefined;
  readonly #o: SubscriberOptions;
  readonly #stageSpans: boolean;
  readonly #redactor: { arguments: PayloadRedactor; result: PayloadRedactor } | undefined;
  readonly #byMsg = new WeakMap<RpcMessage, MsgState>();
  readonly #byEx = new WeakMap<Exchange, ExState>();
  /** `mcp_gateway.<stage>.<key>`, built once per pair. */
  readonly #stageKeys = new Map<string, string>();
  readonly #handlers: Array<[Channel, (m: unknown) => void]>;

  constructor(tracer: Tracer, instruments: Instruments | undefined, o: SubscriberOptions = {}) {
    this.#tracer = tracer;
    this.#m = instruments;
    this.#o = o;
    this.#stageSpans = o.stageSpans !== false;
    this.#redactor = o.recordArguments || o.recordResults ? compileRedactor(o.redact ?? []) : undefined;
    const id = o.gatewayId;
    // Several gateways may share a process (and the process-global channels): keep to our own events.
    const mine = (m: unknown) => {
      if (id === undefined) return true;
      const e = m as { exchange?: { gatewayId?: string }; gatewayId?: string };
      return (e.exchange?.gatewayId ?? e.gatewayId) === id;
    };
    this.#handlers = [
      [channels.messageStart, (m) => mine(m) && this.#messageStart(m as MessageEvent)],
      [channels.messageEnd, (m) => mine(m) && this.#messageEnd(m as MessageEvent)],
      [channels.stageStart, (m) => mine(m) && this.#stageStart(m as StageEvent)],
      [channels.stageEnd, (m) => mine(m) && this.#stageEnd(m as StageEvent)],
      [channels.upstreamStart, (m) => mine(m) && this.#upstreamStart(m as UpstreamEvent)],
      [channels.upstreamEnd, (m) => mine(m) && this.#upstreamEnd(m as UpstreamEvent)],
      [channels.error, (m) => mine(m) && this.#error(m as ErrorEvent)],
      [channels.session, (m) => mine(m) && this.#session(m as SessionEvent)],
    ];
  }

  subscribe(): void {
    for (const [c, f] of this.#handlers) c.subscribe(f);
  }

  unsubscribe(): void {
    for (const [c, f] of this.#handlers) c.unsubscribe(f);
  }

  #ex(ex: Exchange): ExState {
    let s = this.#byEx.get(ex);
    if (!s) {
      s = { headers: extractFromHeaders(ex.headers), first: undefined, pending: undefined };
      this.#byEx.set(ex, s);
    }
    return s;
  }

  #spanName(msg: RpcMessage): string {
    const method = msg.method ?? "response";
    if (msg.target === undefined) return method;
    if (msg.method === "tools/call" || msg.method === "prompts/get") return `${method} ${msg.target}`;
    if (this.#o.resourceUriInSpanName && msg.method?.startsWith("resources/")) return `${method} ${redactString(msg.target)}`;
    return method;
  }

  /** A server→client message on a request's stream belongs under that request: progress by its token. */
  #relatedState(ex: Exchange, msg: RpcMessage, exs: ExState): MsgState | undefined {
    if (msg.method === "notifications/progress") {
      const params = msg.raw.params as Record<string, unknown> | undefined;
      const token = params?.progressToken;
      if (token !== undefined) {
        for (const m of ex.messages) {
          const meta = metaOf(m);
          if (meta && meta.progressToken === token) {
            const st = this.#byMsg.get(m);
            if (st) return st;
          }
        }
      }
    }
    return exs.first;
  }

  #messageStart(ev: MessageEvent): void {
    const msg = ev.message;
    // A response is part of its request's span (MCP semconv spans cover request → response).
    if (msg.kind === "response") return;
    const ex = ev.exchange;
    const exs = this.#ex(ex);
    const fromMeta = extractFromMeta(metaOf(msg));
    const c2s = ev.direction === "client-to-server";
    let parent: Context;
    let links: Link[] | undefined;
    if (fromMeta.remote) {
      // semconv: the _meta context is the parent; the transport (HTTP) context is linked when it differs.
      parent = fromMeta.ctx;
      const h = exs.headers.remote;
      if (h && h.spanId !== fromMeta.remote.spanId) links = [{ context: h }];
    } else if (c2s) {
      parent = exs.headers.ctx;
    } else {
      parent = this.#relatedState(ex, msg, exs)?.ctx ?? exs.headers.ctx;
    }

    const metricAttrs: Attributes = {
      [A.MCP_METHOD_NAME]: msg.method ?? "response",
      [A.GW_SERVER]: ex.server,
      [A.NETWORK_TRANSPORT]: "tcp",
    };
    if (ex.protocolVersion) metricAttrs[A.MCP_PROTOCOL_VERSION] = ex.protocolVersion;
    targetAttrs(msg, metricAttrs);
    // Resource URIs and other targets are high-cardinality: on the span, not on the metric.
    const spanAttrs: Attributes = { ...metricAttrs, [A.NETWORK_PROTOCOL_NAME]: "http", [A.GW_DIRECTION]: ev.direction };
    delete metricAttrs[A.MCP_RESOURCE_URI];
    delete metricAttrs[A.GW_TARGET];
    if (msg.id !== undefined) spanAttrs[A.JSONRPC_REQUEST_ID] = String(msg.id);
    if (c2s && ex.clientAddress) spanAttrs[A.CLIENT_ADDRESS] = ex.clientAddress;
    let sessionSet = false;
    if (ex.sessionId !== undefined && ex.protocolVersion !== STATELESS_ERA) {
      spanAttrs[A.MCP_SESSION_ID] = hashSessionId(ex.sessionId);
      sessionSet = true;
    }
    if (this.#redactor && this.#o.recordArguments && msg.method === "tools/call" && msg.arguments !== undefined) {
      spanAttrs[A.GEN_AI_TOOL_CALL_ARGUMENTS] = this.#redactor.arguments(msg.arguments);
    }

    const name = this.#spanName(msg);
    const pending = c2s && exs.first === undefined ? exs.pending : undefined;
    // The span covers the per-request stages the message went through before it was published.
    const startTime = pending?.length ? Math.min(ev.start, pending[0]!.start) : ev.start;
    const span = this.#tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: spanAttrs, startTime, links }, parent);
    const ctx = trace.setSpan(parent, span);
    const baggage = fromMeta.baggage ?? exs.headers.baggage;
    const st: MsgState = { span, ctx, name, metricAttrs, baggage, sessionSet };
    ev.slot = st;
    this.#byMsg.set(msg, st);
    if (c2s && exs.first === undefined) {
      exs.first = st;
      if (pending) {
        exs.pending = undefined;
        for (const p of pending) this.#replay(p, ctx);
      }
    }
    // Continue this trace upstream: the gateway merges the record into the upstream headers and _meta.
    // Replaced by the CLIENT span's context at upstream.start (see #upstreamStart).
    ev.propagation = injectRecord(span.spanContext(), baggage, ev.propagation ?? {});
  }

  #messageEnd(ev: MessageEvent): void {
    const st = ev.slot as MsgState | undefined;
    if (!st || typeof st !== "object" || !("span" in st)) return;
    const span = st.span;
    const ex = ev.exchange;
    const errorType = errorTypeOf(ev);
    const rpcError = rpcErrorOf(ev.response);
    // The JSON-RPC code the client got: the backend's, or the one of the gateway's own reply.
    const statusCode = rpcError ? String(rpcError.code) : ev.gatewayError !== undefined ? rpcCodeOf(ev.gatewayError) : undefined;
    if (span.isRecording()) {
      const attrs: Attributes = {};
      // initialize: the session id exists only once the response is on its way.
      if (!st.sessionSet && ex.sessionId !== undefined && ex.protocolVersion !== STATELESS_ERA) {
        attrs[A.MCP_SESSION_ID] = hashSessionId(ex.sessionId);
      }
      const p = ex.principal;
      if (p) {
        attrs[A.USER_ID] = p.sub;
        attrs[A.GW_PRINCIPAL_ISS] = p.iss;
        if (p.clientId !== undefined) attrs[A.GW_PRINCIPAL_CLIENT_ID] = p.clientId;
      }
      if (statusCode !== undefined) attrs[A.RPC_RESPONSE_STATUS_CODE] = statusCode;
      if (ev.gatewayError !== undefined) attrs[A.GW_ERROR_CODE] = ev.gatewayError;
      if (errorType !== undefined) {
        attrs[A.ERROR_TYPE] = errorType;
        span.setStatus({ code: SpanStatusCode.ERROR, message: rpcError?.message ? redactString(rpcError.message) : errorType });
      }
      if (this.#redactor && this.#o.recordResults && ev.message.method === "tools/call" && ev.response?.raw.result !== undefined) {
        attrs[A.GEN_AI_TOOL_CALL_RESULT] = this.#redactor.result(ev.response.raw.result);
      }
      span.setAttributes(attrs);
    }
    const end = ev.end ?? performance.now();
    span.end(end);
    const m = this.#m;
    if (m) {
      let attrs = st.metricAttrs;
      if (errorType !== undefined || statusCode !== undefined) {
        attrs = { ...attrs };
        if (errorType !== undefined) attrs[A.ERROR_TYPE] = errorType;
        if (statusCode !== undefined) attrs[A.RPC_RESPONSE_STATUS_CODE] = statusCode;
      }
      m.serverOperationDuration.record((end - ev.start) / 1000, attrs);
      // A JSON-RPC error the backend itself returned (the gateway's own UPSTREAM_* codes are counted at upstream.end).
      if (rpcError && ev.gatewayError === undefined && ev.direction === "client-to-server") {
        m.upstreamErrors.add(1, { [A.ERROR_TYPE]: String(rpcError.code), [A.GW_SERVER]: ex.server });
      }
    }
  }

  #stageKey(stage: string, key: string): string {
    const k = `${stage}\u0000${key}`;
    let v = this.#stageKeys.get(k);
    if (v === undefined) {
      v = `mcp_gateway.${stage}.${key}`;
      if (this.#stageKeys.size < 1024) this.#stageKeys.set(k, v);
    }
    return v;
  }

  #replay(p: PendingStage, parent: Context): void {
    const span = this.#tracer.startSpan(p.name, { kind: SpanKind.INTERNAL, startTime: p.start, attributes: p.attributes }, parent);
    if (p.replied !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: p.replied });
    span.end(p.end);
  }

  #stageAttributes(ev: StageEvent, into: Attributes): Attributes {
    const a = ev.attributes;
    if (a) {
      for (const key of Object.keys(a)) {
        const v = a[key]!;
        // Filters promise never to put secrets here; this is the second line of defence.
        into[this.#stageKey(ev.stage, key)] = isSensitiveKey(key) ? REDACTED : typeof v === "string" ? redactString(v) : v;
      }
    }
    if (ev.replied !== undefined) into[A.GW_STAGE_REPLIED] = ev.replied;
    return into;
  }

  #stageStart(ev: StageEvent): void {
    if (!this.#stageSpans) return;
    const st = ev.message ? this.#byMsg.get(ev.message) : undefined;
    const exs = this.#ex(ev.exchange);
    if (!st && !ev.message && !exs.first && ev.exchange.messages.length > 0) {
      // A per-request stage (authn, session) runs before the relay publishes message.start: defer the
      // span and create it under the first message's SERVER span, with its real start and end times.
      ev.slot = DEFERRED;
      return;
    }
    const parent = st?.ctx ?? exs.first?.ctx ?? exs.headers.ctx;
    const name = ev.filter === ev.stage ? ev.stage : `${ev.stage} ${ev.filter}`;
    ev.slot = this.#tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, startTime: ev.start, attributes: { [A.GW_STAGE]: ev.stage, [A.GW_FILTER]: ev.filter } },
      parent,
    );
  }

  #stageEnd(ev: StageEvent): void {
    const a = ev.attributes;
    if (ev.slot === DEFERRED) {
      const exs = this.#ex(ev.exchange);
      exs.pending ??= [];
      const pending = exs.pending;
      if (pending.length < MAX_PENDING) {
        pending.push({
          name: ev.filter === ev.stage ? ev.stage : `${ev.stage} ${ev.filter}`,
          start: ev.start,
          end: ev.end ?? performance.now(),
          attributes: this.#stageAttributes(ev, { [A.GW_STAGE]: ev.stage, [A.GW_FILTER]: ev.filter }),
          replied: ev.replied,
        });
      }
    } else {
      const span = ev.slot as Span | undefined;
      if (span && typeof span === "object" && "end" in span) {
        if (span.isRecording()) {
          if (a || ev.replied !== undefined) span.setAttributes(this.#stageAttributes(ev, {}));
          if (ev.replied !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: ev.replied });
        }
        span.end(ev.end ?? performance.now());
      }
    }
    const authz = ev.stage === "authz";
    const d = a?.decision;
    const decision = !authz ? undefined : d === "allow" || d === "deny" ? d : ev.replied !== undefined ? "deny" : "allow";
    // The decision also goes on the message's SERVER span: one tag to search for refused calls.
    if (decision !== undefined && ev.message) {
      const st = this.#byMsg.get(ev.message);
      if (st?.span.isRecording()) st.span.setAttribute(A.GW_AUTHZ_DECISION, decision);
    }
    const m = this.#m;
    if (!m) return;
    if (decision !== undefined) {
      const attrs: Attributes = { [A.GW_AUTHZ_DECISION]: decision, [A.GW_SERVER]: ev.exchange.server };
      if (typeof a?.engine === "string") attrs[A.GW_AUTHZ_ENGINE] = a.engine;
      if (ev.message?.method) attrs[A.MCP_METHOD_NAME] = ev.message.method;
      m.authzDecisions.add(1, attrs);
    } else if (ev.stage === "credentials" && a && typeof a.cache_hit === "boolean") {
      const attrs: Attributes = { [A.GW_CREDENTIALS_CACHE]: a.cache_hit ? "hit" : "miss", [A.GW_SERVER]: ev.exchange.server };
      if (typeof a.source === "string") attrs[A.GW_CREDENTIALS_SOURCE] = a.source;
      m.credentialLookups.add(1, attrs);
    }
  }

  #clientAttrs(ev: UpstreamEvent): Attributes {
    const attrs: Attributes = { [A.GW_SERVER]: ev.server, [A.GW_UPSTREAM_TRANSPORT]: ev.transport };
    if (ev.transport === "stdio") {
      attrs[A.NETWORK_TRANSPORT] = "pipe";
      attrs[A.PROCESS_EXECUTABLE_NAME] = ev.address;
    } else {
      attrs[A.NETWORK_TRANSPORT] = "tcp";
      attrs[A.NETWORK_PROTOCOL_NAME] = "http";
      const { host, port } = portOf(ev.address);
      attrs[A.SERVER_ADDRESS] = host;
      if (port !== undefined) attrs[A.SERVER_PORT] = port;
    }
    return attrs;
  }

  #upstreamStart(ev: UpstreamEvent): void {
    const base = this.#clientAttrs(ev);
    const pv = ev.exchange.protocolVersion;
    if (pv) base[A.MCP_PROTOCOL_VERSION] = pv;
    const upSession = ev.exchange.session?.up;
    if (upSession !== undefined && pv !== STATELESS_ERA) base[A.MCP_SESSION_ID] = hashSessionId(upSession);
    const spans: Span[] = [];
    if (ev.messages.length === 0) {
      // GET (stream) or DELETE (end of session): no message, one span for the HTTP exchange.
      const exs = this.#ex(ev.exchange);
      const parent = exs.first?.ctx ?? exs.headers.ctx;
      spans.push(
        this.#tracer.startSpan(`${ev.exchange.httpMethod}`, { kind: SpanKind.CLIENT, attributes: base, startTime: ev.start }, parent),
      );
    }
    for (const me of ev.messages) {
      const st = me.slot as MsgState | undefined;
      const attrs: Attributes = { ...base, [A.MCP_METHOD_NAME]: me.message.method ?? "response" };
      targetAttrs(me.message, attrs);
      if (me.message.id !== undefined) attrs[A.JSONRPC_REQUEST_ID] = String(me.message.id);
      const parent = st?.ctx ?? this.#ex(ev.exchange).headers.ctx;
      const span = this.#tracer.startSpan(
        st?.name ?? this.#spanName(me.message),
        { kind: SpanKind.CLIENT, attributes: attrs, startTime: ev.start },
        parent,
      );
      spans.push(span);
      // The backend should see the CLIENT span as its parent: update, in place, the record set at
      // message.start. Effective if the gateway reads `propagation` after publishing upstream.start.
      if (me.propagation) injectRecord(span.spanContext(), st?.baggage, me.propagation);
    }
    const up: UpstreamState = { spans, address: base[A.SERVER_ADDRESS] as string | undefined };
    ev.slot = up;
  }

  #upstreamEnd(ev: UpstreamEvent): void {
    const up = ev.slot as UpstreamState | undefined;
    if (!up || !Array.isArray(up.spans)) return;
    const spans = up.spans;
    const end = ev.end ?? performance.now();
    const m = this.#m;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      const me = ev.messages[i];
      const errorType = ev.gatewayError ?? (me ? errorTypeOf(me) : undefined);
      if (span.isRecording()) {
        if (ev.httpStatus !== undefined) span.setAttribute(A.HTTP_RESPONSE_STATUS_CODE, ev.httpStatus);
        if (ev.gatewayError !== undefined) span.setAttribute(A.GW_ERROR_CODE, ev.gatewayError);
        const rpcError = me ? rpcErrorOf(me.response) : undefined;
        if (rpcError) span.setAttribute(A.RPC_RESPONSE_STATUS_CODE, String(rpcError.code));
        if (errorType !== undefined) {
          span.setAttribute(A.ERROR_TYPE, errorType);
          span.setStatus({ code: SpanStatusCode.ERROR, message: rpcError?.message ? redactString(rpcError.message) : errorType });
        }
      }
      span.end(end);
      if (m && me) {
        const st = me.slot as MsgState | undefined;
        const attrs: Attributes = { ...(st?.metricAttrs ?? { [A.MCP_METHOD_NAME]: me.message.method ?? "response" }) };
        if (up.address !== undefined) attrs[A.SERVER_ADDRESS] = up.address;
        attrs[A.NETWORK_TRANSPORT] = ev.transport === "stdio" ? "pipe" : "tcp";
        if (errorType !== undefined) attrs[A.ERROR_TYPE] = errorType;
        m.clientOperationDuration.record((end - ev.start) / 1000, attrs);
      }
    }
    if (m && ev.gatewayError !== undefined) m.upstreamErrors.add(1, { [A.ERROR_TYPE]: ev.gatewayError, [A.GW_SERVER]: ev.server });
  }

  #error(ev: ErrorEvent): void {
    this.#m?.gatewayErrors.add(1, { [A.ERROR_TYPE]: ev.code, [A.GW_SERVER]: ev.server ?? "" });
    const st = ev.exchange ? this.#byEx.get(ev.exchange)?.first : undefined;
    if (st?.span.isRecording()) {
      const attrs: Attributes = { [A.ERROR_TYPE]: ev.code };
      if (ev.detail) attrs["mcp_gateway.error.detail"] = redactString(ev.detail);
      st.span.addEvent("mcp_gateway.error", attrs);
    }
  }

  #session(ev: SessionEvent): void {
    const m = this.#m;
    if (!m) return;
    const attrs: Attributes = { [A.GW_SERVER]: ev.server };
    if (ev.kind === "opened") m.sessionsActive.add(1, attrs);
    else {
      m.sessionsActive.add(-1, attrs);
      if (ev.durationMs !== undefined) m.serverSessionDuration.record(ev.durationMs / 1000, attrs);
    }
  }
}
