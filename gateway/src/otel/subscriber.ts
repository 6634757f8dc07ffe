// Turns the gateway's diagnostics events into spans and metric points: a SERVER span per received
// message, INTERNAL spans per filter stage that had something to report, a CLIENT span per message sent
// upstream (MCP semconv "Spans"). On the request path it only fills records; the Recorder hands them to
// the OpenTelemetry SDK in batches afterwards (see recorder.ts for why).

import type { Channel } from "node:diagnostics_channel";
import { basename } from "node:path";
import { type Attributes, type Context, type Link, type SpanContext, SpanKind, SpanStatusCode, TraceFlags } from "@opentelemetry/api";
import {
  channels,
  compileRedactor,
  ERRORS,
  type ErrorEvent,
  type Exchange,
  errorTypeOf,
  hashSessionId,
  isSensitiveKey,
  type MessageEvent,
  metaOf,
  type PayloadRedactor,
  REDACTED,
  type RpcMessage,
  redactString,
  rpcErrorOf,
  type SessionEvent,
  STATELESS_ERA,
  type StageEvent,
  type UpstreamEvent,
} from "../diagnostics-contract.ts";
import * as A from "./attributes.ts";
import type { Instruments } from "./metrics.ts";
import { type Extracted, extractFromHeaders, extractFromMeta, injectRecord } from "./propagation.ts";
import type { Recorder, SpanRecord } from "./recorder.ts";

export interface SubscriberOptions {
  /** Only events of this gateway (Exchange.gatewayId); unset: every gateway in the process. */
  gatewayId?: string | undefined;
  recordArguments?: boolean;
  recordResults?: boolean;
  redact?: readonly string[];
  resourceUriInSpanName?: boolean;
  /**
   * INTERNAL spans for filter stages (default true): for each stage call that reported attributes
   * (authn method, authz decision, credentials source …) or refused the message. A stage that passed
   * without a word (the session check, a request-level no-op) adds no span. Off: stage metrics and the
   * authz decision tag on the SERVER span remain.
   */
  stageSpans?: boolean;
}

/** What the subscriber keeps for one received message (in MessageEvent.slot). */
interface MsgState {
  readonly msg: RpcMessage;
  /** The SERVER span's context: parent of its stage and CLIENT spans, propagated upstream. */
  readonly sc: SpanContext;
  /** Undefined when not sampled. */
  readonly rec: SpanRecord | undefined;
  readonly name: string;
  /** Low-cardinality attributes of the duration metrics (an interned set: see #attrSet). */
  readonly metricAttrs: Attributes;
  /** Its intern key ("" when not interned). */
  readonly metricKey: string;
  readonly baggage: string | undefined;
  sessionSet: boolean;
}

interface UpstreamState {
  /** One per message (undefined where not sampled); one for a GET/DELETE without messages. */
  readonly recs: Array<SpanRecord | undefined>;
  readonly address: string | undefined;
}

/** A per-request stage (authn, session) that ended before any message span existed: replayed under the first. */
interface PendingStage {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly attributes: Attributes;
  readonly replied: string | undefined;
}

interface ExState {
  readonly owner: TelemetrySubscriber;
  readonly headers: Extracted;
  /** States of the request's client→server messages (a body holds one, or a small batch). */
  readonly msgs: MsgState[];
  /** The first client→server message of the request: parent of per-request stages and stream messages. */
  first: MsgState | undefined;
  pending: PendingStage[] | undefined;
}

interface StageKey {
  readonly name: string;
  readonly sensitive: boolean;
}

const MAX_PENDING = 16;
/** Interned metric attribute sets (about the SDK's default cardinality limit per instrument, 2000, times a few instruments). */
const MAX_ATTR_SETS = 8192;
/** Open sessions followed for their expiry; beyond this the oldest leave the gauge early. */
const MAX_TRACKED_SESSIONS = 100_000;

/**
 * The message's target as attributes. Resource URIs and other free-text targets are high-cardinality:
 * on spans only (`forSpan`), never on metrics.
 */
function targetAttrs(msg: RpcMessage, into: Attributes, forSpan: boolean): void {
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
      if (forSpan) into[A.MCP_RESOURCE_URI] = redactString(t);
      return;
    default:
      if (forSpan) into[A.GW_TARGET] = redactString(t);
  }
}

/** Attributes a message's SERVER span and its duration metrics share. */
function messageAttrs(msg: RpcMessage, ex: Exchange, forSpan: boolean): Attributes {
  const a: Attributes = { [A.MCP_METHOD_NAME]: msg.method ?? "response", [A.GW_SERVER]: ex.server, [A.NETWORK_TRANSPORT]: "tcp" };
  if (ex.protocolVersion) a[A.MCP_PROTOCOL_VERSION] = ex.protocolVersion;
  targetAttrs(msg, a, forSpan);
  return a;
}

function rpcCodeOf(code: string): string | undefined {
  const spec = (ERRORS as Record<string, { rpc: number } | undefined>)[code];
  return spec ? String(spec.rpc) : undefined;
}

/** "host:port", "[v6]:port" or a bare command name (stdio); memoised, addresses are few. */
const ports = new Map<string, { host: string; port: number | undefined }>();
function portOf(address: string): { host: string; port: number | undefined } {
  let r = ports.get(address);
  if (r) return r;
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  r = m ? { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) } : { host: address, port: undefined };
  if (ports.size < 256) ports.set(address, r);
  return r;
}

const sampled = (sc: SpanContext): boolean => (sc.traceFlags & TraceFlags.SAMPLED) !== 0;

function record(
  sc: SpanContext,
  parent: SpanContext | undefined,
  name: string,
  kind: SpanKind,
  start: number,
  attributes: Attributes,
  links?: Link[],
): SpanRecord | undefined {
  if (!sampled(sc)) return undefined;
  return { name, kind, sc, parent, start, end: start, attributes, links, status: undefined, events: undefined, ended: false };
}

const ERROR = SpanStatusCode.ERROR;
const NO_ATTRS: Attributes = Object.freeze({});

export class TelemetrySubscriber {
  readonly #r: Recorder;
  readonly #m: Instruments | undefined;
  readonly #o: SubscriberOptions;
  readonly #stageSpans: boolean;
  readonly #redactor: { arguments: PayloadRedactor; result: PayloadRedactor } | undefined;
  /** Exchanges whose telemetrySlot another subscriber holds (two telemetry instances in one process). */
  readonly #byEx = new WeakMap<Exchange, ExState>();
  /**
   * Metric attribute sets, built once per distinct set (route, method, tool, outcome …) and shared by
   * every point: no object per point, and the Recorder sums counter points of one set per turn by
   * identity. Bounded: tool names come from clients; past the bound sets are built per point.
   */
  readonly #attrSets = new Map<string, Attributes>();
  /** `mcp_gateway.<stage>.<key>` by stage, then key. */
  readonly #stageKeys = new Map<string, Map<string, StageKey>>();
  readonly #handlers: Array<[Channel, (m: unknown) => void]>;
  /** Sessions opened through this subscriber's gateway and not yet over (insertion order ≈ expiry order). */
  readonly #open = new Map<string, { server: string; opened: number; expiresAt: number }>();
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt: number | undefined;

  constructor(recorder: Recorder, instruments: Instruments | undefined, o: SubscriberOptions = {}) {
    this.#r = recorder;
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
    // No stage.start handler: a stage span is made at stage.end, from the event's own start time.
    this.#handlers = [
      [channels.messageStart, (m) => mine(m) && this.#messageStart(m as MessageEvent)],
      [channels.messageEnd, (m) => mine(m) && this.#messageEnd(m as MessageEvent)],
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
    this.#stopExpiry();
  }

  /** Per-exchange state, in the exchange's telemetrySlot (no side table per request: WeakMap churn costs GC time). */
  #ex(ex: Exchange): ExState {
    const slot = ex.telemetrySlot as ExState | undefined;
    if (slot?.owner === this) return slot;
    let s = slot === undefined ? undefined : this.#byEx.get(ex);
    if (!s) {
      s = { owner: this, headers: extractFromHeaders(ex.headers), msgs: [], first: undefined, pending: undefined };
      if (slot === undefined) ex.telemetrySlot = s;
      else this.#byEx.set(ex, s);
    }
    return s;
  }

  #peekEx(ex: Exchange): ExState | undefined {
    const slot = ex.telemetrySlot as ExState | undefined;
    return slot?.owner === this ? slot : this.#byEx.get(ex);
  }

  #stateOf(ex: Exchange, msg: RpcMessage): MsgState | undefined {
    const exs = this.#peekEx(ex);
    if (exs) for (const st of exs.msgs) if (st.msg === msg) return st;
    return undefined;
  }

  /** Parent for a span of this exchange that belongs to no message span: the first message's, else the caller's. */
  #exParent(exs: ExState): { sc: SpanContext | undefined; ctx: Context | undefined; local: boolean } {
    if (exs.first) return { sc: exs.first.sc, ctx: undefined, local: true };
    return { sc: exs.headers.remote, ctx: exs.headers.ctx, local: false };
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
            const st = this.#stateOf(ex, m);
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
    let parent: SpanContext | undefined;
    let parentCtx: Context | undefined;
    let local = false;
    let links: Link[] | undefined;
    if (fromMeta.remote) {
      // semconv: the _meta context is the parent; the transport (HTTP) context is linked when it differs.
      parent = fromMeta.remote;
      parentCtx = fromMeta.ctx;
      const h = exs.headers.remote;
      if (h && h.spanId !== fromMeta.remote.spanId) links = [{ context: h }];
    } else if (c2s) {
      parent = exs.headers.remote;
      parentCtx = exs.headers.ctx;
    } else {
      const related = this.#relatedState(ex, msg, exs);
      if (related) {
        parent = related.sc;
        local = true;
      } else {
        parent = exs.headers.remote;
        parentCtx = exs.headers.ctx;
      }
    }

    const name = this.#spanName(msg);
    const pending = c2s && exs.first === undefined ? exs.pending : undefined;
    // The span covers the per-request stages the message went through before it was published.
    const startTime = pending?.length ? Math.min(ev.start, pending[0]!.start) : ev.start;
    const sc = this.#r.context(parent, parentCtx, name, SpanKind.SERVER, local);
    // Attribute objects only for what will use them: metrics, and spans of sampled traces.
    let metricAttrs = NO_ATTRS;
    let metricKey = "";
    if (this.#m) {
      // Only tools/call and prompts/get put their target on metrics (targetAttrs with forSpan false).
      const t = msg.method === "tools/call" || msg.method === "prompts/get" ? (msg.target ?? "") : "";
      metricKey = `m\u0000${msg.method ?? "response"}\u0000${ex.server}\u0000${ex.protocolVersion ?? ""}\u0000${t}`;
      metricAttrs = this.#attrSet(metricKey, () => messageAttrs(msg, ex, false));
    }
    let sessionSet = false;
    let rec: SpanRecord | undefined;
    if (sampled(sc)) {
      const spanAttrs = messageAttrs(msg, ex, true);
      spanAttrs[A.NETWORK_PROTOCOL_NAME] = "http";
      spanAttrs[A.GW_DIRECTION] = ev.direction;
      if (msg.id !== undefined) spanAttrs[A.JSONRPC_REQUEST_ID] = String(msg.id);
      if (c2s && ex.clientAddress) spanAttrs[A.CLIENT_ADDRESS] = ex.clientAddress;
      if (ex.sessionId !== undefined && ex.protocolVersion !== STATELESS_ERA) {
        spanAttrs[A.MCP_SESSION_ID] = hashSessionId(ex.sessionId);
        sessionSet = true;
      }
      if (this.#redactor && this.#o.recordArguments && msg.method === "tools/call" && msg.arguments !== undefined) {
        spanAttrs[A.GEN_AI_TOOL_CALL_ARGUMENTS] = this.#redactor.arguments(msg.arguments);
      }
      rec = record(sc, parent, name, SpanKind.SERVER, startTime, spanAttrs, links);
    }
    const baggage = fromMeta.baggage ?? exs.headers.baggage;
    const st: MsgState = { msg, sc, rec, name, metricAttrs, metricKey, baggage, sessionSet };
    ev.slot = st;
    if (c2s) exs.msgs.push(st);
    if (c2s && exs.first === undefined) {
      exs.first = st;
      if (pending) {
        exs.pending = undefined;
        for (const p of pending) this.#stageRecord(sc, p.name, p.start, p.end, p.attributes, p.replied);
      }
    }
    // Continue this trace upstream: the gateway merges the record into the upstream headers and _meta.
    // Replaced by the CLIENT span's context at upstream.start (see #upstreamStart).
    ev.propagation = injectRecord(sc, baggage, ev.propagation ?? {});
  }

  #messageEnd(ev: MessageEvent): void {
    const st = ev.slot as MsgState | undefined;
    if (!st || typeof st !== "object" || !("sc" in st)) return;
    const ex = ev.exchange;
    const errorType = errorTypeOf(ev);
    const rpcError = rpcErrorOf(ev.response);
    // The JSON-RPC code the client got: the backend's, or the one of the gateway's own reply.
    const statusCode = rpcError ? String(rpcError.code) : ev.gatewayError !== undefined ? rpcCodeOf(ev.gatewayError) : undefined;
    const end = ev.end ?? performance.now();
    const rec = st.rec;
    if (rec && !rec.ended) {
      const attrs = rec.attributes;
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
        rec.status = { code: ERROR, message: rpcError?.message ? redactString(rpcError.message) : errorType };
      }
      if (this.#redactor && this.#o.recordResults && ev.message.method === "tools/call" && ev.response?.raw.result !== undefined) {
        attrs[A.GEN_AI_TOOL_CALL_RESULT] = this.#redactor.result(ev.response.raw.result);
      }
      this.#r.end(rec, end);
    }
    const m = this.#m;
    if (m) {
      let attrs = st.metricAttrs;
      if (errorType !== undefined || statusCode !== undefined) {
        const base = attrs;
        attrs = this.#attrSet(`${st.metricKey}\u0000e${errorType ?? ""}\u0000${statusCode ?? ""}`, () => {
          const a: Attributes = { ...base };
          if (errorType !== undefined) a[A.ERROR_TYPE] = errorType;
          if (statusCode !== undefined) a[A.RPC_RESPONSE_STATUS_CODE] = statusCode;
          return a;
        });
      }
      this.#r.record(m.serverOperationDuration, (end - ev.start) / 1000, attrs);
      // A JSON-RPC error the backend itself returned (the gateway's own UPSTREAM_* codes are counted at upstream.end).
      if (rpcError && ev.gatewayError === undefined && ev.direction === "client-to-server") {
        this.#r.add(m.upstreamErrors, 1, { [A.ERROR_TYPE]: String(rpcError.code), [A.GW_SERVER]: ex.server });
      }
    }
  }

  #attrSet(key: string, build: () => Attributes): Attributes {
    let a = this.#attrSets.get(key);
    if (a === undefined) {
      a = build();
      if (this.#attrSets.size < MAX_ATTR_SETS) this.#attrSets.set(key, a);
    }
    return a;
  }

  /** The span attribute name for a stage's key, and whether the key names a secret; built once per pair. */
  #stageKey(stage: string, key: string): StageKey {
    let per = this.#stageKeys.get(stage);
    if (per === undefined) {
      per = new Map();
      if (this.#stageKeys.size < 64) this.#stageKeys.set(stage, per);
    }
    let v = per.get(key);
    if (v === undefined) {
      v = { name: `mcp_gateway.${stage}.${key}`, sensitive: isSensitiveKey(key) };
      if (per.size < 256) per.set(key, v);
    }
    return v;
  }

  #stageAttributes(ev: StageEvent): Attributes {
    const into: Attributes = { [A.GW_STAGE]: ev.stage, [A.GW_FILTER]: ev.filter };
    const a = ev.attributes;
    if (a) {
      for (const key of Object.keys(a)) {
        const v = a[key]!;
        const k = this.#stageKey(ev.stage, key);
        // Filters promise never to put secrets here; this is the second line of defence.
        into[k.name] = k.sensitive ? REDACTED : typeof v === "string" ? redactString(v) : v;
      }
    }
    if (ev.replied !== undefined) into[A.GW_STAGE_REPLIED] = ev.replied;
    return into;
  }

  /** One finished stage span under `parent` (a local span context), if that trace is sampled. */
  #stageRecord(parent: SpanContext, name: string, start: number, end: number, attrs: Attributes, replied: string | undefined): void {
    const sc = this.#r.context(parent, undefined, name, SpanKind.INTERNAL, true);
    const rec = record(sc, parent, name, SpanKind.INTERNAL, start, attrs);
    if (!rec) return;
    if (replied !== undefined) rec.status = { code: ERROR, message: replied };
    this.#r.end(rec, end);
  }

  #stageEnd(ev: StageEvent): void {
    const a = ev.attributes;
    if (this.#stageSpans && (a !== undefined || ev.replied !== undefined)) {
      const end = ev.end ?? performance.now();
      const name = ev.filter === ev.stage ? ev.stage : `${ev.stage} ${ev.filter}`;
      const st = ev.message ? this.#stateOf(ev.exchange, ev.message) : undefined;
      const exs = this.#ex(ev.exchange);
      if (st) {
        if (sampled(st.sc)) this.#stageRecord(st.sc, name, ev.start, end, this.#stageAttributes(ev), ev.replied);
      } else if (!ev.message && !exs.first && (ev.exchange.messages.length > 0 || ev.exchange.httpMethod === "POST")) {
        // A per-request stage (authn, session) that ran before message.start: kept, and made a child of
        // the first message's SERVER span once that exists, with its real start and end times. A POST's
        // authn runs from the headers before its body is even read (messages still empty then).
        exs.pending ??= [];
        if (exs.pending.length < MAX_PENDING) {
          exs.pending.push({ name, start: ev.start, end, attributes: this.#stageAttributes(ev), replied: ev.replied });
        }
      } else {
        const p = this.#exParent(exs);
        const sc = this.#r.context(p.sc, p.ctx, name, SpanKind.INTERNAL, p.local);
        const rec = record(sc, p.sc, name, SpanKind.INTERNAL, ev.start, this.#stageAttributes(ev));
        if (rec) {
          if (ev.replied !== undefined) rec.status = { code: ERROR, message: ev.replied };
          this.#r.end(rec, end);
        }
      }
    }
    const authz = ev.stage === "authz";
    const d = a?.decision;
    const decision = !authz ? undefined : d === "allow" || d === "deny" ? d : ev.replied !== undefined ? "deny" : "allow";
    // The decision also goes on the message's SERVER span: one tag to search for refused calls.
    if (decision !== undefined && ev.message) {
      const rec = this.#stateOf(ev.exchange, ev.message)?.rec;
      if (rec && !rec.ended) rec.attributes[A.GW_AUTHZ_DECISION] = decision;
    }
    const m = this.#m;
    if (!m) return;
    if (decision !== undefined) {
      const engine = typeof a?.engine === "string" ? a.engine : undefined;
      const method = ev.message?.method;
      const key = `a\u0000${decision}\u0000${ev.exchange.server}\u0000${engine ?? "\u0001"}\u0000${method ?? "\u0001"}`;
      const attrs = this.#attrSet(key, () => {
        const x: Attributes = { [A.GW_AUTHZ_DECISION]: decision, [A.GW_SERVER]: ev.exchange.server };
        if (engine !== undefined) x[A.GW_AUTHZ_ENGINE] = engine;
        if (method) x[A.MCP_METHOD_NAME] = method;
        return x;
      });
      this.#r.add(m.authzDecisions, 1, attrs);
    } else if (ev.stage === "credentials" && a && typeof a.cache_hit === "boolean") {
      const cache = a.cache_hit ? "hit" : "miss";
      const source = typeof a.source === "string" ? a.source : undefined;
      const attrs = this.#attrSet(`c\u0000${cache}\u0000${ev.exchange.server}\u0000${source ?? "\u0001"}`, () => {
        const x: Attributes = { [A.GW_CREDENTIALS_CACHE]: cache, [A.GW_SERVER]: ev.exchange.server };
        if (source !== undefined) x[A.GW_CREDENTIALS_SOURCE] = source;
        return x;
      });
      this.#r.add(m.credentialLookups, 1, attrs);
    }
  }

  #clientAttrs(ev: UpstreamEvent): Attributes {
    const attrs: Attributes = { [A.GW_SERVER]: ev.server, [A.GW_UPSTREAM_TRANSPORT]: ev.transport };
    if (ev.transport === "stdio") {
      attrs[A.NETWORK_TRANSPORT] = "pipe";
      // semconv: the name is the file name; the configured command, when a path, is the path.
      attrs[A.PROCESS_EXECUTABLE_NAME] = basename(ev.address);
      if (ev.address.includes("/")) attrs[A.PROCESS_EXECUTABLE_PATH] = ev.address;
    } else {
      attrs[A.NETWORK_TRANSPORT] = "tcp";
      attrs[A.NETWORK_PROTOCOL_NAME] = "http";
      const { host, port } = portOf(ev.address);
      attrs[A.SERVER_ADDRESS] = host;
      if (port !== undefined) attrs[A.SERVER_PORT] = port;
    }
    return attrs;
  }

  /** CLIENT span attributes common to the messages of one upstream call. */
  #clientBase(ev: UpstreamEvent): Attributes {
    const base = this.#clientAttrs(ev);
    const pv = ev.exchange.protocolVersion;
    if (pv) base[A.MCP_PROTOCOL_VERSION] = pv;
    const upSession = ev.exchange.session?.up;
    if (upSession !== undefined && pv !== STATELESS_ERA) base[A.MCP_SESSION_ID] = hashSessionId(upSession);
    return base;
  }

  #upstreamStart(ev: UpstreamEvent): void {
    let base: Attributes | undefined; // built for the first sampled span, if any
    const recs: Array<SpanRecord | undefined> = [];
    if (ev.messages.length === 0) {
      // GET (stream) or DELETE (end of session): no message, one span for the HTTP exchange.
      const p = this.#exParent(this.#ex(ev.exchange));
      const name = ev.exchange.httpMethod;
      const sc = this.#r.context(p.sc, p.ctx, name, SpanKind.CLIENT, p.local);
      recs.push(sampled(sc) ? record(sc, p.sc, name, SpanKind.CLIENT, ev.start, this.#clientBase(ev)) : undefined);
    }
    for (const me of ev.messages) {
      const st = me.slot as MsgState | undefined;
      const name = st?.name ?? this.#spanName(me.message);
      const p = st ? { sc: st.sc, ctx: undefined, local: true } : this.#exParent(this.#ex(ev.exchange));
      const sc = this.#r.context(p.sc, p.ctx, name, SpanKind.CLIENT, p.local);
      let rec: SpanRecord | undefined;
      if (sampled(sc)) {
        base ??= this.#clientBase(ev);
        const attrs: Attributes = { ...base, [A.MCP_METHOD_NAME]: me.message.method ?? "response" };
        targetAttrs(me.message, attrs, true);
        if (me.message.id !== undefined) attrs[A.JSONRPC_REQUEST_ID] = String(me.message.id);
        rec = record(sc, p.sc, name, SpanKind.CLIENT, ev.start, attrs);
      }
      recs.push(rec);
      // The backend should see the CLIENT span as its parent: update, in place, the record set at
      // message.start. Effective if the gateway reads `propagation` after publishing upstream.start.
      if (me.propagation) injectRecord(sc, st?.baggage, me.propagation);
    }
    const up: UpstreamState = { recs, address: ev.transport === "stdio" ? undefined : portOf(ev.address).host };
    ev.slot = up;
  }

  #upstreamEnd(ev: UpstreamEvent): void {
    const up = ev.slot as UpstreamState | undefined;
    if (!up || !Array.isArray(up.recs)) return;
    const recs = up.recs;
    const end = ev.end ?? performance.now();
    const m = this.#m;
    for (let i = 0; i < recs.length; i++) {
      const rec = recs[i];
      const me = ev.messages[i];
      const errorType = ev.gatewayError ?? (me ? errorTypeOf(me) : undefined);
      if (rec) {
        const attrs = rec.attributes;
        if (ev.httpStatus !== undefined) attrs[A.HTTP_RESPONSE_STATUS_CODE] = ev.httpStatus;
        if (ev.gatewayError !== undefined) attrs[A.GW_ERROR_CODE] = ev.gatewayError;
        const rpcError = me ? rpcErrorOf(me.response) : undefined;
        if (rpcError) attrs[A.RPC_RESPONSE_STATUS_CODE] = String(rpcError.code);
        if (errorType !== undefined) {
          attrs[A.ERROR_TYPE] = errorType;
          rec.status = { code: ERROR, message: rpcError?.message ? redactString(rpcError.message) : errorType };
        }
        this.#r.end(rec, end);
      }
      if (m && me) {
        const st = me.slot as MsgState | undefined;
        const transport = ev.transport === "stdio" ? "pipe" : "tcp";
        const build = (): Attributes => {
          const x: Attributes = { ...(st?.metricAttrs ?? { [A.MCP_METHOD_NAME]: me.message.method ?? "response" }) };
          if (up.address !== undefined) x[A.SERVER_ADDRESS] = up.address;
          x[A.NETWORK_TRANSPORT] = transport;
          if (errorType !== undefined) x[A.ERROR_TYPE] = errorType;
          return x;
        };
        // Interned when the message's own set is (a message seen at message.start), else built.
        const attrs = st?.metricKey
          ? this.#attrSet(`${st.metricKey}\u0000u${up.address ?? "\u0001"}\u0000${transport}\u0000${errorType ?? ""}`, build)
          : build();
        this.#r.record(m.clientOperationDuration, (end - ev.start) / 1000, attrs);
      }
    }
    if (m && ev.gatewayError !== undefined) this.#r.add(m.upstreamErrors, 1, { [A.ERROR_TYPE]: ev.gatewayError, [A.GW_SERVER]: ev.server });
  }

  #error(ev: ErrorEvent): void {
    if (this.#m) this.#r.add(this.#m.gatewayErrors, 1, { [A.ERROR_TYPE]: ev.code, [A.GW_SERVER]: ev.server ?? "" });
    const rec = ev.exchange ? this.#peekEx(ev.exchange)?.first?.rec : undefined;
    if (rec && !rec.ended) {
      const attrs: Attributes = { [A.ERROR_TYPE]: ev.code };
      if (ev.detail) attrs["mcp_gateway.error.detail"] = redactString(ev.detail);
      rec.events ??= [];
      rec.events.push({ name: "mcp_gateway.error", attributes: attrs, time: performance.now() });
    }
  }

  /** A session that stops existing: gauge down once, duration recorded. */
  #sessionOver(sid: string, server: string, durationMs: number | undefined, reason: string): void {
    const m = this.#m;
    if (!m) return;
    const attrs: Attributes = { [A.GW_SERVER]: server };
    if (this.#open.delete(sid)) this.#r.add(m.sessionsActive, -1, attrs);
    if (durationMs !== undefined) {
      // The gateway opens one backend session per client session and ends it with it: same duration.
      const ended = { ...attrs, [A.GW_SESSION_END]: reason };
      this.#r.record(m.serverSessionDuration, durationMs / 1000, ended);
      this.#r.record(m.clientSessionDuration, durationMs / 1000, ended);
    }
  }

  #session(ev: SessionEvent): void {
    if (!this.#m) return;
    if (ev.kind === "opened") {
      if (this.#open.size >= MAX_TRACKED_SESSIONS) this.#sweep(Number.POSITIVE_INFINITY);
      const expiresAt = ev.expiresAt ?? Number.POSITIVE_INFINITY;
      this.#open.set(ev.sessionId, { server: ev.server, opened: Date.now(), expiresAt });
      this.#r.add(this.#m.sessionsActive, 1, { [A.GW_SERVER]: ev.server });
      this.#armExpiry(expiresAt);
    } else {
      this.#sessionOver(ev.sessionId, ev.server, ev.durationMs, ev.reason ?? "deleted");
    }
  }

  /**
   * Sessions are sealed tokens with an absolute expiry and need no DELETE: one the client simply stops
   * using ends at its expiry, and the gauge must say so. One timer, at the earliest expiry.
   */
  #armExpiry(at: number): void {
    if (!Number.isFinite(at) || (this.#expiryAt !== undefined && this.#expiryAt <= at)) return;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryAt = at;
    this.#expiryTimer = setTimeout(() => this.#onExpiry(), Math.max(0, at - Date.now()) + 5);
    this.#expiryTimer.unref();
  }

  #onExpiry(): void {
    this.#expiryTimer = undefined;
    this.#expiryAt = undefined;
    this.#sweep(Date.now());
    let next = Number.POSITIVE_INFINITY;
    for (const s of this.#open.values()) if (s.expiresAt < next) next = s.expiresAt;
    this.#armExpiry(next);
  }

  /** End every tracked session expired by `now`; with +Infinity (the table is full), the oldest tenth. */
  #sweep(now: number): void {
    let evict = Number.isFinite(now) ? 0 : Math.max(1, Math.floor(this.#open.size / 10));
    for (const [sid, s] of this.#open) {
      if (s.expiresAt <= now) this.#sessionOver(sid, s.server, s.expiresAt - s.opened, "expired");
      else if (evict > 0) {
        evict--;
        this.#sessionOver(sid, s.server, undefined, "untracked");
      }
    }
  }

  /** Stop the expiry timer (on unsubscribe). */
  #stopExpiry(): void {
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#expiryAt = undefined;
  }
}
