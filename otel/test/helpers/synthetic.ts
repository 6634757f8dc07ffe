// Publishes the diagnostics events the relay publishes, in the documented order (gateway/src/diagnostics.ts),
// so otel/ and the audit sink can be tested before the relay exists. No sockets, no backend.

import type { Exchange, Principal } from "../../../gateway/src/chain/types.ts";
import { type RpcMessage, toMessage } from "../../../gateway/src/codec/jsonrpc.ts";
import { channels, type MessageEvent, type StageEvent, type UpstreamEvent } from "../../../gateway/src/diagnostics.ts";
import { ERRORS, type ErrorCode } from "../../../gateway/src/errors.ts";

export const BEARER = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaWRwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
export const SESSION_ID = "g1.c2VhbGVkLXNlc3Npb24tdG9rZW4tdGhhdC1tdXN0LW5ldmVyLWFwcGVhcg";

export const alice: Principal = {
  sub: "alice",
  iss: "https://idp.example.com",
  clientId: "agent-42",
  groups: ["sre", "oncall"],
  scopes: ["mcp:tools"],
  amr: ["pwd", "mfa"],
  claims: {},
};

export function exchange(over: Partial<Exchange> & { headers?: Exchange["headers"] } = {}): Exchange {
  return {
    server: "servicenow",
    downstream: "streamable-http",
    url: "/mcp/test",
    httpMethod: "POST",
    headers: { host: "127.0.0.1", authorization: `Bearer ${BEARER}` },
    clientAddress: "127.0.0.1",
    start: performance.now(),
    protocolVersion: "2025-06-18",
    messages: [],
    batch: false,
    principal: undefined,
    session: undefined,
    sessionId: undefined,
    upstreamHeaders: {},
    upstreamEnv: {},
    vars: new Map(),
    ...over,
  };
}

export function rpc(raw: Record<string, unknown>): RpcMessage {
  return toMessage({ jsonrpc: "2.0", ...raw });
}

export interface StageSpec {
  stage: string;
  filter?: string;
  /** Per-request stages run with message undefined (authn, session). */
  perRequest?: boolean;
  attributes?: Record<string, string | number | boolean>;
  replied?: string;
}

export interface Step {
  ex: Exchange;
  msg: RpcMessage;
  stages?: StageSpec[];
  upstream?: { transport?: UpstreamEvent["transport"]; address?: string; httpStatus?: number; gatewayError?: string };
  /** Server→client messages relayed while the upstream call is open (progress, sampling …). */
  during?: (ex: Exchange) => void;
  response?: Record<string, unknown>;
  errorType?: string;
  gatewayError?: string;
  /** Mutate the exchange after authn ran (principal, session …). */
  afterAuthn?: (ex: Exchange) => void;
}

export interface StepResult {
  ev: MessageEvent;
  /** What the gateway would merge into the upstream headers / _meta, as read after upstream.start. */
  upstreamPropagation: Record<string, string> | undefined;
}

function stage(ex: Exchange, msg: RpcMessage | undefined, s: StageSpec): StageEvent {
  const ev: StageEvent = { exchange: ex, filter: s.filter ?? s.stage, stage: s.stage, message: msg, start: performance.now() };
  channels.stageStart.publish(ev);
  ev.end = performance.now();
  if (s.attributes) ev.attributes = s.attributes;
  if (s.replied) ev.replied = s.replied as ErrorCode;
  channels.stageEnd.publish(ev);
  return ev;
}

/**
 * One client→server message through the whole lifecycle, in the relay's order (gateway/src/relay.ts):
 * per-request stages (authn, session) before message.start, then the per-message stages.
 */
export function send(step: Step): StepResult {
  const { ex, msg } = step;
  (ex.messages as RpcMessage[]).push(msg);
  let replied: string | undefined;
  for (const s of (step.stages ?? []).filter((x) => x.perRequest)) {
    if (replied) break;
    const sev = stage(ex, undefined, s);
    if (s.stage === "authn") step.afterAuthn?.(ex);
    replied = sev.replied;
  }
  // (A request refused at a per-request stage publishes no message events today; see the report.)
  const ev: MessageEvent = { exchange: ex, message: msg, direction: "client-to-server", start: performance.now() };
  channels.messageStart.publish(ev);
  for (const s of (step.stages ?? []).filter((x) => !x.perRequest)) {
    if (replied) break;
    const sev = stage(ex, msg, s);
    replied = sev.replied;
  }
  let upstreamPropagation: Record<string, string> | undefined;
  if (!replied && step.upstream) {
    const up: UpstreamEvent = {
      exchange: ex,
      server: ex.server,
      transport: step.upstream.transport ?? "streamable-http",
      address: step.upstream.address ?? "backend.internal:8443",
      messages: [ev],
      start: performance.now(),
    };
    channels.upstreamStart.publish(up);
    // The relay reads ev.propagation here, after upstream.start (the ordering asked of the lead).
    upstreamPropagation = ev.propagation ? { ...ev.propagation } : undefined;
    step.during?.(ex);
    if (step.response) ev.response = toMessage({ jsonrpc: "2.0", id: msg.id, ...step.response });
    if (step.upstream.httpStatus !== undefined) up.httpStatus = step.upstream.httpStatus;
    if (step.upstream.gatewayError) up.gatewayError = step.upstream.gatewayError as ErrorCode;
    up.end = performance.now();
    channels.upstreamEnd.publish(up);
  } else if (step.response) {
    ev.response = toMessage({ jsonrpc: "2.0", id: msg.id, ...step.response });
  }
  // As relay.ts endMessage(): errorType is the JSON-RPC code (or tool_error), gatewayError the gateway's code.
  const e = ev.response?.raw.error as { code?: number } | undefined;
  if (e && typeof e.code === "number") ev.errorType = String(e.code);
  const local = step.gatewayError ?? replied;
  if (local) {
    ev.gatewayError = local as ErrorCode;
    ev.errorType = String(ERRORS[local as ErrorCode].rpc);
    // A local reply is not relayed as a backend response.
    if (replied) delete ev.response;
  }
  if (step.errorType) ev.errorType = step.errorType;
  ev.end = performance.now();
  channels.messageEnd.publish(ev);
  return { ev, upstreamPropagation };
}

/** A server→client message relayed to the client. */
export function serverMessage(ex: Exchange, msg: RpcMessage): MessageEvent {
  const ev: MessageEvent = { exchange: ex, message: msg, direction: "server-to-client", start: performance.now() };
  channels.messageStart.publish(ev);
  ev.end = performance.now();
  channels.messageEnd.publish(ev);
  return ev;
}

export const AUTHN: StageSpec = { stage: "authn", filter: "jwt", perRequest: true, attributes: { method: "jwt", cache_hit: true } };
export const SESSION: StageSpec = { stage: "session", perRequest: true };
export const ALLOW: StageSpec = {
  stage: "authz",
  filter: "opa",
  attributes: { decision: "allow", reason: "sre may call create_incident", engine: "wasm", cache_hit: false },
};
export const DENY: StageSpec = {
  stage: "authz",
  filter: "opa",
  attributes: { decision: "deny", reason: "tool not permitted for group sre", engine: "wasm", cache_hit: false },
  replied: "AUTHZ_DENIED",
};
export const CREDS: StageSpec = { stage: "credentials", filter: "vault", attributes: { source: "vault", cache_hit: false } };
export const CREDS_HIT: StageSpec = { stage: "credentials", filter: "vault", attributes: { source: "vault", cache_hit: true } };

/** The session of the issue: initialize, initialized, tools/list, tools/call allowed (with progress) and denied, a backend error. */
export function realisticSession(opts: { inboundTraceparent?: string; metaTraceparent?: string } = {}): {
  results: StepResult[];
  progress: MessageEvent;
} {
  const headers = (extra: Record<string, string> = {}) => ({ host: "127.0.0.1", authorization: `Bearer ${BEARER}`, ...extra });
  const results: StepResult[] = [];
  const login = (ex: Exchange) => {
    ex.principal = alice;
  };
  // initialize: no session yet; the gateway seals one and publishes session.opened.
  const init = exchange({ headers: headers() });
  results.push(
    send({
      ex: init,
      msg: rpc({
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
      }),
      stages: [AUTHN, ALLOW, CREDS],
      afterAuthn: login,
      upstream: { httpStatus: 200 },
      response: { result: { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "b", version: "1" } } },
    }),
  );
  init.sessionId = SESSION_ID;
  channels.session.publish({ server: "servicenow", sessionId: SESSION_ID, kind: "opened" });

  const inSession = (extra: Record<string, string> = {}) => {
    const ex = exchange({ headers: headers({ "mcp-session-id": SESSION_ID, ...extra }), sessionId: SESSION_ID });
    ex.session = { srv: "servicenow", pv: "2025-06-18", exp: 2e9, up: "backend-session-1", n: "x" };
    return ex;
  };
  results.push(
    send({
      ex: inSession(),
      msg: rpc({ method: "notifications/initialized" }),
      stages: [AUTHN, SESSION],
      afterAuthn: login,
      upstream: { httpStatus: 202 },
    }),
  );
  results.push(
    send({
      ex: inSession(),
      msg: rpc({ id: 1, method: "tools/list" }),
      stages: [AUTHN, SESSION, ALLOW, CREDS_HIT],
      afterAuthn: login,
      upstream: { httpStatus: 200 },
      response: { result: { tools: [{ name: "create_incident", inputSchema: { type: "object" } }] } },
    }),
  );
  // tools/call allowed, with a client trace in headers and/or _meta, and progress on its stream.
  const meta: Record<string, unknown> = { progressToken: "p-1" };
  if (opts.metaTraceparent) meta.traceparent = opts.metaTraceparent;
  const callEx = inSession(opts.inboundTraceparent ? { traceparent: opts.inboundTraceparent } : {});
  let progress: MessageEvent | undefined;
  results.push(
    send({
      ex: callEx,
      msg: rpc({
        id: 2,
        method: "tools/call",
        params: {
          name: "create_incident",
          arguments: { summary: "printer on fire", password: "hunter2-do-not-log", apiKey: "sk-live-abcdefghijklmnopqrstuvwxyz" },
          _meta: meta,
        },
      }),
      stages: [AUTHN, SESSION, ALLOW, CREDS],
      afterAuthn: login,
      upstream: { httpStatus: 200 },
      during: (ex) => {
        progress = serverMessage(ex, rpc({ method: "notifications/progress", params: { progressToken: "p-1", progress: 1, total: 2 } }));
      },
      response: { result: { content: [{ type: "text", text: "INC0012345 created for secret-result-value" }] } },
    }),
  );
  // tools/call denied by policy: no upstream call, the gateway answers.
  results.push(
    send({
      ex: inSession(),
      msg: rpc({ id: 3, method: "tools/call", params: { name: "delete_everything", arguments: { confirm: "yes-really-delete" } } }),
      stages: [AUTHN, SESSION, DENY],
      afterAuthn: login,
    }),
  );
  // tools/call where the backend fails: a JSON-RPC error from the backend …
  results.push(
    send({
      ex: inSession(),
      msg: rpc({ id: 4, method: "tools/call", params: { name: "create_incident", arguments: { summary: "again" } } }),
      stages: [AUTHN, SESSION, ALLOW, CREDS_HIT],
      afterAuthn: login,
      upstream: { httpStatus: 200 },
      response: { error: { code: -32603, message: `backend exploded near Bearer ${BEARER}` } },
    }),
  );
  // … and the backend unreachable (the gateway's own error).
  results.push(
    send({
      ex: inSession(),
      msg: rpc({ id: 5, method: "prompts/get", params: { name: "triage", arguments: { ticket: "INC1" } } }),
      stages: [AUTHN, SESSION, ALLOW, CREDS_HIT],
      afterAuthn: login,
      upstream: { gatewayError: "UPSTREAM_UNAVAILABLE" },
      gatewayError: "UPSTREAM_UNAVAILABLE",
    }),
  );
  channels.session.publish({ server: "servicenow", sessionId: SESSION_ID, kind: "closed", durationMs: 1500 });
  return { results, progress: progress! };
}
