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
