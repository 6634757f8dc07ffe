// node:diagnostics_channel events the gateway publishes. otel/ subscribes; the gateway imports no
// OpenTelemetry. Every publish is guarded by `hasSubscribers`, so with telemetry off it costs nothing.
//
// Lifecycle of one client→server request message:
//   message.start(MessageEvent) → [stage.start/stage.end per filter] → upstream.start(UpstreamEvent)
//   → upstream.end(UpstreamEvent) → message.end(MessageEvent)   (same MessageEvent object throughout)
// Server→client messages (requests, notifications) publish message.start + message.end with
// direction "server-to-client". Notifications and responses from the client publish both at once.

import diagnostics_channel from "node:diagnostics_channel";
import type { Exchange } from "./chain/types.ts";
import type { RpcMessage } from "./codec/jsonrpc.ts";
import type { ErrorCode } from "./errors.ts";

export interface MessageEvent {
  readonly exchange: Exchange;
  readonly message: RpcMessage;
  readonly direction: "client-to-server" | "server-to-client";
  /** performance.now() at start; `end` is set before message.end is published. */
  readonly start: number;
  end?: number;
  /** The response (for requests), when one came back. */
  response?: RpcMessage;
  /** Outcome: a gateway error code, a JSON-RPC error code from the backend, or tool_error (isError). */
  errorType?: string;
  gatewayError?: ErrorCode;
  /**
   * Set by subscribers at message.start to propagate context: merged into the upstream HTTP headers
   * and into `params._meta` of the message sent upstream (W3C trace context: traceparent, tracestate, baggage).
   */
  propagation?: Record<string, string>;
  /** Free slot owned by otel/ (e.g. its span), so it needs no side table. The audit sink does not use it. */
  slot?: unknown;
}

export interface StageEvent {
  readonly exchange: Exchange;
  readonly filter: string;
  readonly stage: string;
  /** The message, for per-message filter calls. */
  readonly message: RpcMessage | undefined;
  readonly start: number;
  end?: number;
  /** Set when the filter replied locally (denied / challenged). */
  replied?: ErrorCode;
  /** Attributes a filter wants on its span (e.g. decision, engine, cache hit). Never secrets. */
  attributes?: Record<string, string | number | boolean>;
  slot?: unknown;
}

export interface UpstreamEvent {
  readonly exchange: Exchange;
  readonly server: string;
  readonly transport: "streamable-http" | "sse" | "stdio";
  /** Host:port for HTTP backends, command name for stdio. */
  readonly address: string;
  /** Messages carried by this upstream call (empty for GET/DELETE). */
  readonly messages: MessageEvent[];
  readonly start: number;
  end?: number;
  gatewayError?: ErrorCode;
  httpStatus?: number;
  slot?: unknown;
}

export interface ErrorEvent {
  readonly gatewayId?: string;
  readonly server: string | undefined;
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly exchange: Exchange | undefined;
}

export interface SessionEvent {
  readonly gatewayId?: string;
  readonly server: string;
  readonly sessionId: string;
  readonly kind: "opened" | "closed";
  /** Session duration in ms on close. */
  readonly durationMs?: number;
  readonly protocolVersion?: string;
  /** On open: when the sealed session stops being accepted (epoch ms; the expiry is absolute). */
  readonly expiresAt?: number;
  /** On close: ended by the client's DELETE, or lost (the backend answered 404 for it). */
  readonly reason?: "deleted" | "lost";
}

/**
 * A tool-governance fact that is not a message: a definition pinned, changed or approved (pins stage),
 * an approval asked and answered (approval stage). The audit log records each one.
 */
export interface GovernanceEvent {
  readonly gatewayId?: string;
  readonly type:
    | "tool.pinned"
    | "tool.changed"
    | "tool.approved"
    | "approval.requested"
    | "approval.accepted"
    | "approval.declined"
    | "approval.timeout"
    | "approval.unsupported";
  readonly server: string;
  readonly tool: string;
  /** Definition hash (pins), previous one for a change or an approval. */
  readonly hash?: string;
  readonly previousHash?: string;
  /** Who approved a definition (CLI `--by`), or the user asked to approve a call. */
  readonly by?: string;
  readonly exchange?: Exchange;
  readonly reason?: string;
}

/**
 * Key in `Exchange.vars` where a filter leaves attributes for its own stage span (decision, engine,
 * cache hit …; never secret values). The chain moves them onto StageEvent.attributes at stage end.
 * Filters should write it only when `channels.stageEnd.hasSubscribers`.
 */
export const STAGE_ATTRIBUTES: unique symbol = Symbol("mcp-gateway.stage-attributes");

export const channels = {
  messageStart: diagnostics_channel.channel("mcp-gateway:message.start"),
  messageEnd: diagnostics_channel.channel("mcp-gateway:message.end"),
  stageStart: diagnostics_channel.channel("mcp-gateway:stage.start"),
  stageEnd: diagnostics_channel.channel("mcp-gateway:stage.end"),
  upstreamStart: diagnostics_channel.channel("mcp-gateway:upstream.start"),
  upstreamEnd: diagnostics_channel.channel("mcp-gateway:upstream.end"),
  error: diagnostics_channel.channel("mcp-gateway:error"),
  session: diagnostics_channel.channel("mcp-gateway:session"),
  governance: diagnostics_channel.channel("mcp-gateway:governance"),
} as const;

export const CHANNEL_NAMES = Object.fromEntries(Object.entries(channels).map(([k, c]) => [k, c.name])) as Record<
  keyof typeof channels,
  string | symbol
>;
