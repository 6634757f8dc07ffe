// One interface for every backend transport (STYLE.md #7: protocol code never branches on transport).
// Streamable HTTP is request-scoped (each downstream POST is one upstream POST, so any replica can
// serve a session); stdio and legacy SSE are connection-scoped and live in one gateway process.

import type { JsonObject, RpcMessage } from "../codec/jsonrpc.ts";
import type { GatewayError } from "../errors.ts";

export type TransportName = "streamable-http" | "sse" | "stdio";

/** One message coming back from a backend. `text` is the exact JSON text when known (relayed as-is if unchanged). */
export interface UpstreamMessage {
  /** undefined for an id-only SSE event (a resumption priming event), relayed as-is. */
  readonly message: JsonObject | undefined;
  readonly text: string | undefined;
  /** SSE event id from the backend (resumption); relayed unchanged. */
  readonly eventId: string | undefined;
  /** SSE retry hint from the backend (SSE polling), relayed unchanged. */
  readonly retry?: number | undefined;
}

export type UpstreamReply =
  /** The backend accepted notifications/responses (202). */
  | { readonly kind: "accepted" }
  /**
   * Messages: `stream` is true when the backend answered with SSE (we mirror it), false for a JSON body.
   * The iterator ends when the backend's answer ends; it throws a GatewayError on failure.
   */
  | {
      readonly kind: "messages";
      /** true: the backend answered with SSE; false: with a JSON body; "auto": no preference (stdio, legacy SSE). */
      readonly stream: boolean | "auto";
      readonly messages: AsyncIterable<UpstreamMessage>;
      readonly sessionId: string | undefined;
    }
  /** A backend HTTP error to relay (status, content type and body as received, bounded). */
  | { readonly kind: "http-error"; readonly status: number; readonly contentType: string | undefined; readonly body: string };

export interface UpstreamCallContext {
  /** Headers to send upstream (already allow-listed, plus credentials). */
  readonly headers: Record<string, string>;
  /** Only the credential headers of the credentials stage (connection-scoped backends keep these). */
  readonly credentialHeaders: Record<string, string>;
  /** Extra environment for a stdio child (credentials). */
  readonly env: Record<string, string>;
  readonly signal: AbortSignal;
  readonly protocolVersion: string;
  readonly lastEventId: string | undefined;
  /**
   * Who the call is for ("<iss> <sub>", "" for anonymous): connection-scoped backends never share a
   * child or connection between owners (issue 10, bug 4), and per-caller caps count by it.
   */
  readonly owner?: string;
}

/** State a session needs sealed into the downstream session id. */
export interface SessionState {
  up?: string;
  bind?: string;
}

export interface UpstreamSession {
  state(): SessionState;
  /** Send client messages (one POST). `body` is their JSON text, `messages` the parsed messages. */
  post(body: string, messages: readonly RpcMessage[], ctx: UpstreamCallContext): Promise<UpstreamReply>;
  /** Open the stream of server-initiated messages (GET). */
  listen(ctx: UpstreamCallContext): Promise<UpstreamReply>;
  /** End the session upstream (DELETE / kill the child). */
  terminate(ctx: UpstreamCallContext): Promise<void>;
  /** True for sessions living in this process (stdio, legacy SSE). */
  readonly local: boolean;
}

export interface Upstream {
  readonly transport: TransportName;
  /** host:port or command, for telemetry. */
  readonly address: string;
  /** Start a session for an initialize request. */
  connect(ctx: UpstreamCallContext): Promise<UpstreamSession>;
  /** Continue a session from its sealed state; undefined when this replica cannot (child gone, other replica). */
  attach(state: SessionState): UpstreamSession | undefined;
  /** A session-less exchange (2026-07-28); `messages` are the request's (their `_meta` describes the caller). */
  stateless(ctx: UpstreamCallContext, messages: readonly RpcMessage[]): Promise<UpstreamSession>;
  close(): Promise<void>;
}

export type { GatewayError };
