// The filter interface and the per-request Exchange every filter reads. Filters return a verdict;
// only the chain writes replies (STYLE.md: "Filters return a verdict; only the chain writes responses").

import type { IncomingHttpHeaders } from "node:http";
import type { RpcMessage } from "../codec/jsonrpc.ts";
import type { MessageEvent } from "../diagnostics.ts";
import type { GatewayError } from "../errors.ts";
import type { SessionClaims } from "../session/sealed-session.ts";
import type { Stage } from "./order.ts";

/** The verified caller. Set by the authn stage; bound to the session by the session stage. */
export interface Principal {
  sub: string;
  iss: string;
  clientId?: string;
  groups: string[];
  scopes: string[];
  amr: string[];
  acr?: string;
  tenant?: string;
  claims: Record<string, unknown>;
  /** Token expiry (seconds since the epoch), when the credential has one. */
  expiresAt?: number;
}

export type DownstreamTransport = "streamable-http" | "sse";

export interface Exchange {
  /** Route (configured server) name. */
  readonly server: string;
  /** The gateway instance that serves this exchange (diagnostics subscribers of one gateway ignore others'). */
  readonly gatewayId?: string;
  readonly downstream: DownstreamTransport;
  /** HTTP method of the downstream request: POST carries messages, GET opens a stream, DELETE ends a session. */
  readonly httpMethod: "POST" | "GET" | "DELETE";
  readonly headers: IncomingHttpHeaders;
  /** Request target as received: path and query (authn refuses tokens in the query string). */
  readonly url: string;
  readonly clientAddress: string;
  /** Start time (performance.now()). */
  readonly start: number;
  /** Protocol version in force for this request (header, initialize params, `_meta`, or session). */
  protocolVersion: string;
  /** The parsed client→server messages of a POST (empty for GET/DELETE). */
  readonly messages: RpcMessage[];
  readonly batch: boolean;
  principal: Principal | undefined;
  /** Claims of the verified session (undefined for initialize and for 2026-07-28). */
  session: SessionClaims | undefined;
  sessionId: string | undefined;
  /** Headers the gateway adds to the upstream request (credentials stage). Never the caller's. */
  readonly upstreamHeaders: Record<string, string>;
  /** Extra environment for a stdio child spawned by this exchange (credentials stage). */
  readonly upstreamEnv: Record<string, string>;
  /** Per-exchange values filters share, keyed by a symbol the owning filter exports. */
  readonly vars: Map<symbol, unknown>;
  /**
   * The first client→server message event of a traced request (set by the relay when it publishes
   * message.start): where request-scoped log lines find the trace (log/message-facts.ts traceFields).
   */
  traceEvent?: MessageEvent | undefined;
  /** Free slot owned by the telemetry subscriber (otel/), like the events' `slot`: no side table per request. */
  telemetrySlot?: unknown;
  /**
   * Send a request to the client on this request's response stream and resolve with the client's
   * JSON-RPC response (the approval stage's elicitation). Set by the relay only where the downstream
   * can carry one: a single Streamable HTTP request, 2025-03-26 … 2025-11-25. Rejects with
   * ClientRequestError (timeout, the client went away, too many pending).
   */
  askClient?:
    | ((method: string, params: Record<string, unknown>, opts: { timeoutMs: number }) => Promise<Record<string, unknown>>)
    | undefined;
}

/** A local reply: the chain answers with this error instead of going upstream. */
export interface LocalReply {
  readonly error: GatewayError;
  /** Extra response headers (e.g. WWW-Authenticate). */
  readonly headers?: Record<string, string>;
  /** Override the HTTP status of the table (e.g. 403 for insufficient_scope). */
  readonly status?: number;
}

/** undefined = continue. */
export type Verdict = LocalReply | undefined;

/**
 * Key in `Exchange.vars`: lower-case header names a filter wants withheld from the upstream request
 * (e.g. the credentials stage's `stripHeaders`). The relay's header allow-list consults it.
 */
export const UPSTREAM_STRIP: unique symbol = Symbol("mcp-gateway.upstream-strip");

export interface Filter {
  readonly name: string;
  readonly stage: Stage;
  /** Once per HTTP request (POST, GET, DELETE) after parsing. A reply ends the whole request. */
  onRequest?(ex: Exchange): Verdict | Promise<Verdict>;
  /**
   * Once per client→server message. A reply answers only that message (as a JSON-RPC error if it is
   * a request, silently dropped if it is a notification or response); other messages continue.
   */
  onMessage?(ex: Exchange, msg: RpcMessage): Verdict | Promise<Verdict>;
  /**
   * Each message coming back (responses and server→client messages), in reverse stage order.
   * `request` is the client request a response answers, when known. Return the raw message to relay
   * (the same object, or a changed copy), or undefined to drop it.
   */
  onUpstreamMessage?(
    ex: Exchange,
    msg: RpcMessage,
    request: RpcMessage | undefined,
  ): RpcMessage | undefined | Promise<RpcMessage | undefined>;
}
