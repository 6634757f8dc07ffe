// The authz stage: every client→server message is decided by OPA before it goes upstream, and list
// results coming back are cut to what the same decision allows (ARCHITECTURE.md invariant 3).

import type { Exchange, Filter, LocalReply } from "../../chain/types.ts";
import { errorResponse, isObject, type JsonObject, metaOf, type RpcMessage } from "../../codec/jsonrpc.ts";
import { channels, STAGE_ATTRIBUTES } from "../../diagnostics.ts";
import { GatewayError } from "../../errors.ts";
import { hashSessionId } from "../../log/message-facts.ts";
import { ActionResolver, type ServerAuthzSettings } from "./actions.ts";
import type { Authorizer, DecideContext, Outcome } from "./authorizer.ts";
import { parseTraceparent } from "./decision-log.ts";
import type { AuthzAction, AuthzInput, AuthzSubject, FilterItem, StepUp } from "./types.ts";

/** ex.vars key: the Outcome of the last message decided in this exchange (span attributes, audit). */
export const AUTHZ_OUTCOME: unique symbol = Symbol("authz.outcome");

export interface AuthzFilterOptions {
  authorizer: Authorizer;
  /** Per-server settings, i.e. config servers.<name>.authz. */
  servers?: Readonly<Record<string, ServerAuthzSettings | undefined>>;
  /** How many (server, tool) annotation facts to remember (default 10 000). */
  annotationCacheSize?: number;
  /**
   * RFC 9728 metadata URL for the exchange's route, added to the step-up challenge so a client can
   * find the authorization server (the authn stage knows it).
   */
  resourceMetadataUrl?: (ex: Exchange) => string | undefined;
  /** Clock for input.request.time (tests). */
  now?: () => Date;
}

/** List method → [result member holding the items, member naming an item, action of every item]. */
const LISTS: Record<string, { member: string; key: string }> = {
  "tools/list": { member: "tools", key: "name" },
  "prompts/list": { member: "prompts", key: "name" },
  "resources/list": { member: "resources", key: "uri" },
  "resources/templates/list": { member: "resourceTemplates", key: "uriTemplate" },
};

/** Methods whose target is read, whatever the config says (prompts and resources are never "called"). */
const READ_METHODS = new Set(["prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe", "completion/complete"]);

/** One subject per shared (frozen) principal: built once, and its JSON is cached by the decision cache's key. */
const subjects = new WeakMap<object, AuthzSubject>();

function subjectOf(ex: Exchange): AuthzSubject | null {
  const p = ex.principal;
  if (!p) return null;
  const shared = Object.isFrozen(p);
  const hit = shared ? subjects.get(p) : undefined;
  if (hit) return hit;
  const s: AuthzSubject = { sub: p.sub, iss: p.iss, groups: p.groups, scopes: p.scopes, amr: p.amr, claims: p.claims };
  if (p.clientId !== undefined) s.client_id = p.clientId;
  if (shared) subjects.set(p, Object.freeze(s));
  return s;
}

function traceOf(ex: Exchange, msg: RpcMessage | undefined): DecideContext {
  // MCP puts W3C trace context in params._meta (MCP-NOTES.md, OpenTelemetry section), else the header.
  const meta = msg ? metaOf(msg.raw) : undefined;
  const t = parseTraceparent(meta?.traceparent) ?? parseTraceparent(ex.headers.traceparent);
  return t ? { traceId: t.traceId, spanId: t.spanId } : {};
}

/** RFC 9470 §3: Bearer error="insufficient_user_authentication" with acr_values / max_age. */
export function stepUpChallenge(stepUp: StepUp, resourceMetadata?: string): string {
  const q = (v: string) => `"${v.replace(/["\\]/g, "\\$&")}"`;
  const parts = [`Bearer error="insufficient_user_authentication"`, `error_description="A multi-factor authentication is required"`];
  if (stepUp.acr_values) parts.push(`acr_values=${q(stepUp.acr_values)}`);
  if (stepUp.max_age !== undefined) parts.push(`max_age=${stepUp.max_age}`);
  if (resourceMetadata) parts.push(`resource_metadata=${q(resourceMetadata)}`);
  return parts.join(", ");
}

export interface AuthzFilter extends Filter {
  readonly actions: ActionResolver;
}

export function createAuthzFilter(options: AuthzFilterOptions): AuthzFilter {
  const authorizer = options.authorizer;
  if (!authorizer) throw new Error("createAuthzFilter: an authorizer is required");
  const actions = new ActionResolver(options.servers ?? {}, options.annotationCacheSize ?? 10_000);
  const now = options.now ?? (() => new Date());

  function baseInput(ex: Exchange, method: string): AuthzInput {
    return {
      subject: subjectOf(ex),
      server: ex.server,
      method,
      request: {
        protocol_version: ex.protocolVersion,
        // 2026-07-28 has no sessions: null, and the policy must not depend on it. The hash, never the
        // id itself: the input is written to the decision log, and a session id is a bearer credential.
        session: ex.sessionId ? hashSessionId(ex.sessionId) : null,
        client_address: ex.clientAddress,
        time: now().toISOString(),
      },
    };
  }

  function inputFor(ex: Exchange, msg: RpcMessage, method: string): AuthzInput {
    const input = baseInput(ex, method);
    if (msg.target !== undefined) {
      input.target = msg.target;
      input.action = method === "tools/call" ? actions.resolve(ex.server, msg.target) : READ_METHODS.has(method) ? "read" : "execute";
    }
    if (method === "tools/call" || method === "prompts/get") input.arguments = msg.arguments ?? {};
    return input;
  }

  function deny(ex: Exchange, out: Outcome): LocalReply {
    if (out.error) return { error: new GatewayError("AUTHZ_UNAVAILABLE") };
    const stepUp = out.decision.step_up;
    if (stepUp) {
      // Step-up is an authentication problem: 401 + challenge, so the client's OAuth support
      // re-authenticates with MFA and retries (RFC 9470 §3).
      return {
        error: new GatewayError("MFA_REQUIRED"),
        status: 401,
        headers: { "www-authenticate": stepUpChallenge(stepUp, options.resourceMetadataUrl?.(ex)) },
      };
    }
    // Same reply whether the target exists or not: the policy never learns, and we never say.
    return { error: new GatewayError("AUTHZ_DENIED") };
  }

  async function filterList(ex: Exchange, msg: RpcMessage, request: RpcMessage): Promise<RpcMessage | undefined> {
    const spec = LISTS[request.method!]!;
    const result = msg.raw.result;
    if (!isObject(result)) return msg;
    const list = result[spec.member];
    if (!Array.isArray(list)) return msg;
    const items: FilterItem[] = [];
    const targets: Array<string | undefined> = [];
    for (const entry of list) {
      const t = isObject(entry) ? entry[spec.key] : undefined;
      if (typeof t !== "string" || t === "") {
        targets.push(undefined); // unnamed entries cannot be authorized: dropped
        continue;
      }
      targets.push(t);
      const action: AuthzAction = request.method === "tools/list" ? actions.learn(ex.server, t, (entry as JsonObject).annotations) : "read";
      items.push({ target: t, action });
    }
    const out = await authorizer.filter(baseInput(ex, request.method!), items, traceOf(ex, request));
    if (!out.allowed) {
      // Fail closed: the caller gets an error rather than an unfiltered (or silently empty) list.
      const raw = errorResponse(msg.id, new GatewayError("AUTHZ_UNAVAILABLE").toRpcError());
      return { kind: "response", id: msg.id, method: undefined, target: undefined, arguments: undefined, raw };
    }
    const allowed = out.allowed;
    const kept = list.filter((_, i) => {
      const t = targets[i];
      return t !== undefined && allowed.has(t);
    });
    if (kept.length === list.length) return msg;
    return { ...msg, raw: { ...msg.raw, result: { ...result, [spec.member]: kept } } };
  }

  return {
    name: "authz",
    stage: "authz",
    actions,

    async onMessage(ex, msg) {
      // Responses are the client's answers to server→client requests (sampling, elicitation,
      // roots): they act on nothing the policy governs.
      if (msg.kind === "response" || msg.method === undefined) return undefined;
      const input = inputFor(ex, msg, msg.method);
      const out = await authorizer.decide(input, traceOf(ex, msg));
      ex.vars.set(AUTHZ_OUTCOME, out);
      if (channels.stageEnd.hasSubscribers) {
        const attrs: Record<string, string | boolean> = {
          decision: out.decision.allow ? "allow" : "deny",
          reason: out.decision.reason,
          engine: authorizer.engine.kind,
          cache_hit: out.cached,
          revision: out.revision,
        };
        // What `mcp-gateway policy replay` needs to rebuild this input from the audit record.
        if (input.action) attrs.action = input.action;
        if (out.decision.require_approval === true) attrs.require_approval = true;
        ex.vars.set(STAGE_ATTRIBUTES, attrs);
      }
      return out.decision.allow ? undefined : deny(ex, out);
    },

    onUpstreamMessage(ex, msg, request) {
      if (msg.kind !== "response" || !request?.method || !Object.hasOwn(LISTS, request.method)) return msg;
      if (!("result" in msg.raw)) return msg; // an error response: nothing to filter
      return filterList(ex, msg, request);
    },
  };
}
