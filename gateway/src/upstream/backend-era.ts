// What a connection-scoped backend (stdio child, legacy SSE connection) speaks, learnt once per route
// with `server/discover` (2026-07-28), and the 2025-era session the gateway holds for 2026-07-28 callers.
// Rules and limits: docs/design/relay.md ("Backend eras").

import { randomBytes } from "node:crypto";
import { isObject, type JsonObject, type JsonRpcId, type RpcMessage, toMessage } from "../codec/jsonrpc.ts";
import { GatewayError } from "../errors.ts";
import { BodyMessages } from "./body.ts";
import type { HeldRequest, MessageChannel } from "./channel.ts";
import type { SessionState, UpstreamCallContext, UpstreamMessage, UpstreamReply, UpstreamSession } from "./types.ts";

export type BackendEra = "modern" | "legacy";

/** A prepared backend connection: its era, and for a 2025-era backend the InitializeResult it gave the gateway. */
export interface Prepared {
  readonly era: BackendEra;
  readonly initialize?: JsonObject;
}

/** The 2025-era version the gateway initializes a 2025-only backend with on behalf of a 2026-07-28 caller. */
export const BRIDGE_VERSION = "2025-11-25";
const META_VERSION = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities";
const META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo";

function metaOfFirst(messages: readonly RpcMessage[]): JsonObject {
  for (const m of messages) {
    const p = m.raw.params;
    if (isObject(p) && isObject(p._meta)) return p._meta;
  }
  return {};
}

/** Send one request on the channel and wait for its answer (the channel rewrites its id: shared mode). */
async function ask(channel: MessageChannel, raw: JsonObject, signal: AbortSignal): Promise<JsonObject> {
  const reply = await channel.post([toMessage(raw)], signal);
  if (reply.kind !== "messages") throw new GatewayError("UPSTREAM_BAD_RESPONSE", `no answer to ${String(raw.method)}`);
  for await (const m of reply.messages) {
    if (m.message && m.message.method === undefined) return m.message;
  }
  throw new GatewayError("UPSTREAM_CLOSED", `backend ended before answering ${String(raw.method)}`);
}

/**
 * Learn what a fresh backend connection speaks and make it ready for 2026-07-28 requests. A backend
 * that answers `server/discover` with 2026-07-28 among its versions takes the requests as they are.
 * Anything else is a 2025-era backend: the gateway initializes it (the caller's capabilities and
 * client info from the request's `_meta`) and holds that session for the caller.
 */
export async function prepareForModern(
  channel: MessageChannel,
  first: readonly RpcMessage[],
  known: BackendEra | undefined,
  signal: AbortSignal,
): Promise<Prepared> {
  const meta = metaOfFirst(first);
  const version = typeof meta[META_VERSION] === "string" ? (meta[META_VERSION] as string) : "2026-07-28";
  if (known !== "legacy") {
    const d = await ask(
      channel,
      { jsonrpc: "2.0", id: 0, method: "server/discover", params: { _meta: { ...meta, [META_VERSION]: version } } },
      signal,
    );
    const result = d.result;
    if (isObject(result) && Array.isArray(result.supportedVersions) && result.supportedVersions.includes(version)) return { era: "modern" };
    if (known === "modern") throw new GatewayError("UPSTREAM_BAD_RESPONSE", "backend no longer speaks 2026-07-28");
  }
  const capabilities = isObject(meta[META_CAPABILITIES]) ? meta[META_CAPABILITIES] : {};
  const clientInfo = isObject(meta[META_CLIENT_INFO]) ? meta[META_CLIENT_INFO] : { name: "mcp-gateway", version: "1" };
  const init = await ask(
    channel,
    { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: BRIDGE_VERSION, capabilities, clientInfo } },
    signal,
  );
  if (!isObject(init.result)) {
    throw new GatewayError("BACKEND_ERA_UNSUPPORTED", "the backend speaks neither 2026-07-28 nor answers initialize");
  }
  await channel.post([toMessage({ jsonrpc: "2.0", method: "notifications/initialized" })], signal);
  return { era: "legacy", initialize: init.result };
}

const META_SERVER_INFO = "io.modelcontextprotocol/serverInfo";

/** `server/discover` answered by the gateway from the InitializeResult of the session it holds. */
function discoverResult(init: JsonObject): JsonObject {
  const result: JsonObject = {
    supportedVersions: ["2026-07-28"],
    capabilities: isObject(init.capabilities) ? init.capabilities : {},
    resultType: "complete",
    // The backend's answer is per session, and the session is this caller's own.
    cacheScope: "private",
    ttlMs: 0,
  };
  if (typeof init.instructions === "string") result.instructions = init.instructions;
  if (isObject(init.serverInfo)) result._meta = { [META_SERVER_INFO]: init.serverInfo };
  return result;
}

function local(message: JsonObject): UpstreamReply {
  return {
    kind: "messages",
    stream: false,
    messages: new BodyMessages([{ message, text: undefined, eventId: undefined }]),
    sessionId: undefined,
  };
}

/** Results that carry cache hints in 2026-07-28 (CacheableResult): ttlMs and cacheScope are required there. */
const CACHEABLE = new Set(["tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"]);

/**
 * A 2025-era result as a 2026-07-28 client expects it: `resultType: "complete"` (the gateway never leaves
 * a request half-done), and for cacheable results `ttlMs: 0` (a 2025 backend gives no freshness, and its
 * list_changed notifications cannot reach a 2026-07-28 client) with `cacheScope: "private"` (the session
 * is the caller's own).
 */
function asModern(m: UpstreamMessage, methods: ReadonlyMap<unknown, string | undefined>): UpstreamMessage {
  const msg = m.message;
  if (!msg || msg.method !== undefined || !isObject(msg.result) || msg.result.resultType !== undefined) return m;
  const result: JsonObject = { ...msg.result, resultType: "complete" };
  if (CACHEABLE.has(methods.get(msg.id) ?? "")) {
    result.ttlMs ??= 0;
    result.cacheScope ??= "private";
  }
  return { message: { ...msg, result }, text: undefined, eventId: m.eventId };
}

async function* mapped(
  messages: AsyncIterable<UpstreamMessage>,
  methods: ReadonlyMap<unknown, string | undefined>,
): AsyncGenerator<UpstreamMessage> {
  for await (const m of messages) yield asModern(m, methods);
}

/** Server→client requests that a 2026-07-28 client can answer as `inputRequests` of an `input_required` result. */
const INPUT_METHODS = new Set(["sampling/createMessage", "elicitation/create", "roots/list"]);
/** requestState the gateway mints for a held request (opaque to the client, meaningful to this process only). */
const STATE_PREFIX = "mcp-gateway-held.";
/** The one key of the gateway's `inputRequests` / `inputResponses`. */
const INPUT_KEY = "gateway-input";
/** How long a held request waits for the client's retry with its input before the gateway gives up. */
export const HOLD_MS = 120_000;

function errorAnswer(id: unknown, e: GatewayError): JsonObject {
  return { jsonrpc: "2.0", id: id as string | number, error: e.toRpcError() };
}

/**
 * The 2025-era session the gateway holds for one 2026-07-28 caller (one per owner and route), and the
 * mapping of that caller's stateless requests onto it:
 * - `server/discover` is answered from the InitializeResult;
 * - a server→client request (sampling, elicitation, roots) while exactly one of the caller's requests is
 *   in flight ends that request's answer with `input_required` (`inputRequests[gateway-input]` = the
 *   backend's request, `requestState` = a token of this process); the backend's call stays open. The
 *   client's retry carrying that `requestState` and `inputResponses[gateway-input]` sends the answer to
 *   the backend and continues the same backend call on the retry's stream;
 * - what has no 2025 equivalent is refused with CROSS_ERA_UNMAPPABLE (docs/design/relay.md).
 */
export class ModernBridge {
  readonly #channel: MessageChannel;
  readonly #init: JsonObject;
  readonly #held = new Map<string, { held: HeldRequest; requestId: unknown; timer: NodeJS.Timeout }>();

  constructor(channel: MessageChannel, init: JsonObject) {
    this.#channel = channel;
    this.#init = init;
    channel.onServerRequest = (request) => this.#serverRequest(request);
  }

  /** Requests held for input right now (tests, bounded by HOLD_MS). */
  get heldCount(): number {
    return this.#held.size;
  }

  #serverRequest(request: JsonObject): JsonObject | undefined {
    const method = String(request.method);
    if (method === "ping") return { jsonrpc: "2.0", id: request.id as string | number, result: {} };
    const refuse = (why: string) => errorAnswer(request.id, new GatewayError("CROSS_ERA_UNMAPPABLE", `${method.slice(0, 64)}: ${why}`));
    if (!INPUT_METHODS.has(method)) return refuse("no 2026-07-28 equivalent");
    const token = randomBytes(18).toString("base64url");
    const inputRequest: JsonObject = { method };
    if (request.params !== undefined) inputRequest.params = request.params;
    const held = this.#channel.hold((clientId) => ({
      jsonrpc: "2.0",
      id: clientId,
      result: { resultType: "input_required", inputRequests: { [INPUT_KEY]: inputRequest }, requestState: `${STATE_PREFIX}${token}` },
    }));
    if (!held) return refuse("not exactly one request of this caller is in flight, so its cause is unknown");
    const timer = setTimeout(() => {
      if (!this.#held.delete(token)) return;
      held.drop();
      void this.#channel.sendRaw(refuse("the client did not answer in time")).catch(() => {});
    }, HOLD_MS);
    timer.unref();
    this.#held.set(token, { held, requestId: request.id, timer });
    return undefined;
  }

  session(inner: UpstreamSession): UpstreamSession {
    return new BridgedSession(this, inner);
  }

  discover(id: JsonRpcId): UpstreamReply {
    return local({ jsonrpc: "2.0", id, result: discoverResult(this.#init) });
  }

  /** The retry of a held request: answer the backend's request, continue the backend call here. */
  async resume(request: RpcMessage, state: string, signal: AbortSignal): Promise<UpstreamReply> {
    const token = state.slice(STATE_PREFIX.length);
    const h = this.#held.get(token);
    if (!h) {
      const e = new GatewayError(
        "CROSS_ERA_UNMAPPABLE",
        "requestState names no request held for this caller (expired or another caller's)",
      );
      return local(errorAnswer(request.id, e));
    }
    this.#held.delete(token);
    clearTimeout(h.timer);
    const params = request.raw.params;
    const responses = isObject(params) && isObject(params.inputResponses) ? params.inputResponses : undefined;
    const answer = responses?.[INPUT_KEY];
    // Resume first, so nothing the backend sends in reply to the answer can slip past the new stream.
    const reply = h.held.resume(request.id!, signal);
    await this.#channel.sendRaw(
      isObject(answer)
        ? { jsonrpc: "2.0", id: h.requestId as string | number, result: answer }
        : errorAnswer(
            h.requestId,
            new GatewayError("CROSS_ERA_UNMAPPABLE", "the retry carried no inputResponses for the gateway's request"),
          ),
    );
    return reply;
  }
}

/** A 2026-07-28 caller's requests on the session a ModernBridge holds (see there for the rules). */
class BridgedSession implements UpstreamSession {
  readonly local = true;
  readonly #bridge: ModernBridge;
  readonly #inner: UpstreamSession;
  constructor(bridge: ModernBridge, inner: UpstreamSession) {
    this.#bridge = bridge;
    this.#inner = inner;
  }
  state(): SessionState {
    return {};
  }
  async post(body: string, messages: readonly RpcMessage[], ctx: UpstreamCallContext): Promise<UpstreamReply> {
    const first = messages[0];
    let r: UpstreamReply | undefined;
    if (messages.length === 1 && first?.kind === "request") {
      if (first.method === "server/discover") return this.#bridge.discover(first.id!);
      if (first.method === "subscriptions/listen") {
        const e = new GatewayError("CROSS_ERA_UNMAPPABLE", "subscriptions/listen has no equivalent on a 2025-era backend");
        return local(errorAnswer(first.id, e));
      }
      const p = first.raw.params;
      const state = isObject(p) ? p.requestState : undefined;
      if (typeof state === "string" && state.startsWith(STATE_PREFIX)) r = await this.#bridge.resume(first, state, ctx.signal);
    }
    r ??= await this.#inner.post(body, messages, ctx);
    if (r.kind !== "messages") return r;
    const methods = new Map<unknown, string | undefined>();
    for (const m of messages) if (m.kind === "request") methods.set(m.id, m.method);
    return { ...r, messages: mapped(r.messages, methods) };
  }
  listen(ctx: UpstreamCallContext): Promise<UpstreamReply> {
    return this.#inner.listen(ctx);
  }
  terminate(ctx: UpstreamCallContext): Promise<void> {
    return this.#inner.terminate(ctx);
  }
}

// ── 2025-era callers in front of a 2026-07-28-only backend (the reverse direction) ──────────────────

/** What a per-session stdio child knows once its 2025-era caller turned out to need translation. */
export interface CallerState {
  /** Set when the backend refused the caller's `initialize` but speaks 2026-07-28: translate from then on. */
  translate: { readonly meta: JsonObject } | undefined;
  /** Answers the client owes for the gateway's server→client requests (input_required rounds), by id. */
  readonly inputs: Map<string, (answer: JsonObject) => void>;
  seq: number;
}

export function newCallerState(): CallerState {
  return { translate: undefined, inputs: new Map(), seq: 0 };
}

/** What a route's upstream remembers about its backend (shared by all sessions of the route). */
export interface EraMemory {
  /** Whether it speaks 2026-07-28 ("modern") or not ("legacy"), once learnt. */
  era: BackendEra | undefined;
  /** Whether it accepts a 2025-era `initialize`, once learnt (dual-era backends do). */
  acceptsInitialize?: boolean;
}

const UNSUPPORTED_VERSION = -32022;
/** input_required rounds one request may take before the gateway gives up (a backend asking forever). */
const MAX_ROUNDS = 8;

function withModernMeta(m: RpcMessage, meta: JsonObject, extra?: JsonObject): RpcMessage {
  const params = isObject(m.raw.params) ? m.raw.params : {};
  const own = isObject(params._meta) ? params._meta : {};
  return toMessage({ ...m.raw, params: { ...params, ...extra, _meta: { ...own, ...meta } } });
}

/**
 * A 2026-07-28 result as a 2025-era client expects it: no resultType, no cache hints, and no serverInfo
 * in `_meta` (2025 gives it once, in the InitializeResult the gateway made from server/discover).
 */
function asLegacy(m: UpstreamMessage): UpstreamMessage {
  const msg = m.message;
  if (!msg || msg.method !== undefined || !isObject(msg.result)) return m;
  const r = msg.result;
  const meta = isObject(r._meta) ? r._meta : undefined;
  const info = meta !== undefined && META_SERVER_INFO in meta;
  if (r.resultType === undefined && r.ttlMs === undefined && r.cacheScope === undefined && !info) return m;
  const { resultType: _t, ttlMs: _ttl, cacheScope: _c, ...rest } = r;
  if (meta && info) {
    const { [META_SERVER_INFO]: _i, ...others } = meta;
    if (Object.keys(others).length > 0) rest._meta = others;
    else delete rest._meta;
  }
  return { message: { ...msg, result: rest }, text: undefined, eventId: m.eventId };
}

/**
 * A 2025-era session (initialize, server→client requests) on a backend that speaks only 2026-07-28:
 * `initialize` is answered from `server/discover`; each request gets the 2026 `_meta` (version, the
 * capabilities and client info of the caller's initialize); `ping` and `notifications/initialized` are
 * answered / dropped by the gateway; an `input_required` result becomes server→client requests on the
 * call's stream, and the client's answers go back to the backend as the retry's `inputResponses`.
 * A backend that answers `initialize` is relayed untouched (never translated when it need not be).
 */
export class LegacyCallerSession implements UpstreamSession {
  readonly local = true;
  readonly #inner: UpstreamSession;
  readonly #channel: MessageChannel;
  readonly #state: CallerState;
  readonly #memory: EraMemory;

  constructor(inner: UpstreamSession, channel: MessageChannel, state: CallerState, memory: EraMemory) {
    this.#inner = inner;
    this.#channel = channel;
    this.#state = state;
    this.#memory = memory;
  }
  state(): SessionState {
    return this.#inner.state();
  }
  listen(ctx: UpstreamCallContext): Promise<UpstreamReply> {
    return this.#inner.listen(ctx);
  }
  terminate(ctx: UpstreamCallContext): Promise<void> {
    return this.#inner.terminate(ctx);
  }

  async post(body: string, messages: readonly RpcMessage[], ctx: UpstreamCallContext): Promise<UpstreamReply> {
    const first = messages[0];
    const t = this.#state.translate;
    if (!t) {
      if (first?.kind !== "request" || first.method !== "initialize" || this.#memory.era === "legacy") {
        return this.#inner.post(body, messages, ctx);
      }
      return this.#initialize(body, first, ctx);
    }
    const requests: RpcMessage[] = [];
    const answers: UpstreamMessage[] = [];
    for (const m of messages) {
      if (m.kind === "response") {
        const resolve = typeof m.id === "string" ? this.#state.inputs.get(m.id) : undefined;
        if (resolve) {
          this.#state.inputs.delete(m.id as string);
          resolve(m.raw);
        }
        continue; // 2026-07-28 has no server→client requests: nothing else to answer upstream
      }
      if (m.kind === "notification") continue; // initialized, roots/list_changed, cancelled: no 2026 equivalent on stdio
      if (m.method === "ping") {
        answers.push({ message: { jsonrpc: "2.0", id: m.id!, result: {} }, text: undefined, eventId: undefined });
        continue;
      }
      requests.push(withModernMeta(m, t.meta));
    }
    if (requests.length === 0) {
      return answers.length
        ? { kind: "messages", stream: false, messages: new BodyMessages(answers), sessionId: undefined }
        : { kind: "accepted" };
    }
    return { kind: "messages", stream: "auto", messages: this.#rounds(requests, answers, ctx), sessionId: undefined };
  }

  /** Relay initialize; if the backend refuses the version but speaks 2026-07-28, answer it from server/discover. */
  async #initialize(body: string, init: RpcMessage, ctx: UpstreamCallContext): Promise<UpstreamReply> {
    let head: UpstreamMessage | undefined;
    if (this.#memory.acceptsInitialize !== false) {
      const r = await this.#inner.post(body, [init], ctx);
      if (r.kind !== "messages") return r;
      const it = r.messages[Symbol.asyncIterator]();
      const n = await it.next();
      head = n.done ? undefined : n.value;
      const err = head?.message?.error;
      if (!isObject(err) || err.code !== UNSUPPORTED_VERSION) {
        if (head?.message && isObject(head.message.result)) this.#memory.acceptsInitialize = true;
        const rest = it;
        const first = head;
        async function* all(): AsyncGenerator<UpstreamMessage> {
          if (first) yield first;
          for (;;) {
            const x = await rest.next();
            if (x.done) return;
            yield x.value;
          }
        }
        return { ...r, messages: all() };
      }
    }
    const params = isObject(init.raw.params) ? init.raw.params : {};
    const meta: JsonObject = {
      [META_VERSION]: "2026-07-28",
      [META_CAPABILITIES]: isObject(params.capabilities) ? params.capabilities : {},
      [META_CLIENT_INFO]: isObject(params.clientInfo) ? params.clientInfo : { name: "mcp-gateway", version: "1" },
    };
    const d = await ask(
      this.#channel,
      { jsonrpc: "2.0", id: "gateway-discover", method: "server/discover", params: { _meta: meta } },
      ctx.signal,
    );
    const result = d.result;
    if (!isObject(result) || !Array.isArray(result.supportedVersions) || !result.supportedVersions.includes("2026-07-28")) {
      // Neither era fits: the caller gets the backend's own refusal.
      return local(head?.message ?? errorAnswer(init.id, new GatewayError("BACKEND_ERA_UNSUPPORTED")));
    }
    this.#memory.era = "modern";
    this.#memory.acceptsInitialize = false;
    this.#state.translate = { meta };
    const requested = typeof params.protocolVersion === "string" ? params.protocolVersion : BRIDGE_VERSION;
    const serverInfo =
      isObject(result._meta) && isObject(result._meta[META_SERVER_INFO])
        ? result._meta[META_SERVER_INFO]
        : { name: "mcp-server", version: "" };
    const initResult: JsonObject = {
      protocolVersion: requested >= "2025-03-26" && requested < "2026" ? requested : BRIDGE_VERSION,
      capabilities: isObject(result.capabilities) ? result.capabilities : {},
      serverInfo,
    };
    if (typeof result.instructions === "string") initResult.instructions = result.instructions;
    return local({ jsonrpc: "2.0", id: init.id!, result: initResult });
  }

  /** The requests of one POST, with their input_required rounds turned into server→client requests. */
  async *#rounds(requests: RpcMessage[], answers: UpstreamMessage[], ctx: UpstreamCallContext): AsyncGenerator<UpstreamMessage> {
    yield* answers;
    let current = requests;
    for (let round = 0; round < MAX_ROUNDS && current.length > 0; round++) {
      const r = await this.#inner.post(JSON.stringify(current.length === 1 ? current[0]!.raw : current.map((m) => m.raw)), current, ctx);
      if (r.kind !== "messages") throw new GatewayError("UPSTREAM_BAD_RESPONSE", "backend accepted a request without answering it");
      const retries: RpcMessage[] = [];
      for await (const m of r.messages) {
        const msg = m.message;
        const res = msg && msg.method === undefined && isObject(msg.result) ? msg.result : undefined;
        if (res?.resultType !== "input_required") {
          yield asLegacy(m);
          continue;
        }
        const request = current.find((q) => q.id === msg!.id);
        if (!request) continue;
        const inputResponses: JsonObject = {};
        const wanted = isObject(res.inputRequests) ? res.inputRequests : {};
        let refused = false;
        for (const [key, ir] of Object.entries(wanted)) {
          if (!isObject(ir) || typeof ir.method !== "string") continue;
          const id = `gateway-input-${++this.#state.seq}`;
          const answered = new Promise<JsonObject>((resolve, reject) => {
            this.#state.inputs.set(id, resolve);
            const abort = () => {
              this.#state.inputs.delete(id);
              reject(
                ctx.signal.reason instanceof GatewayError ? ctx.signal.reason : new GatewayError("UPSTREAM_CLOSED", "request aborted"),
              );
            };
            if (ctx.signal.aborted) abort();
            else ctx.signal.addEventListener("abort", abort, { once: true });
          });
          const ask: JsonObject = { jsonrpc: "2.0", id, method: ir.method };
          if (ir.params !== undefined) ask.params = ir.params;
          yield { message: ask, text: undefined, eventId: undefined };
          const a = await answered;
          if (!isObject(a.result)) {
            const e = new GatewayError("CROSS_ERA_UNMAPPABLE", `the client refused ${ir.method.slice(0, 64)}`);
            yield { message: errorAnswer(request.id, e), text: undefined, eventId: undefined };
            refused = true;
            break;
          }
          inputResponses[key] = a.result;
        }
        if (refused) continue;
        const extra: JsonObject = { inputResponses };
        if (typeof res.requestState === "string") extra.requestState = res.requestState;
        const params = isObject(request.raw.params) ? request.raw.params : {};
        retries.push(toMessage({ ...request.raw, params: { ...params, ...extra } }));
      }
      current = retries;
    }
    if (current.length > 0) {
      const e = new GatewayError("CROSS_ERA_UNMAPPABLE", `more than ${MAX_ROUNDS} input_required rounds`);
      for (const q of current) yield { message: errorAnswer(q.id, e), text: undefined, eventId: undefined };
    }
  }
}
