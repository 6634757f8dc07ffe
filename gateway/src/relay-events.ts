// The diagnostics events the relay publishes (message, upstream, error), apart from the orchestration
// in relay.ts: each is built only when someone subscribes, so telemetry off costs nothing.

import type { Exchange } from "./chain/types.ts";
import { isObject, type JsonRpcId, type RpcMessage } from "./codec/jsonrpc.ts";
import { channels, type MessageEvent, type UpstreamEvent } from "./diagnostics.ts";
import type { GatewayError } from "./errors.ts";
import { traceFields } from "./log/message-facts.ts";
import type { Logger } from "./logger.ts";
import type { Route } from "./relay.ts";

/** Someone listens to message events (the per-message events are built only then). */
export function traced(): boolean {
  return channels.messageStart.hasSubscribers || channels.messageEnd.hasSubscribers;
}

/** End a message's event with its response or the gateway's error. */
export function endMessage(ev: MessageEvent | undefined, response: RpcMessage | undefined, gatewayError?: GatewayError): void {
  if (!ev) return;
  ev.end = performance.now();
  if (response) {
    ev.response = response;
    const e = response.raw.error;
    if (isObject(e) && typeof e.code === "number") ev.errorType = String(e.code);
    else if (isObject(response.raw.result) && response.raw.result.isError === true) ev.errorType = "tool_error";
  }
  if (gatewayError) {
    ev.gatewayError = gatewayError.code;
    ev.errorType = String(gatewayError.spec.rpc);
  }
  channels.messageEnd.publish(ev);
}

/** The message list is built only when someone listens (no allocation per request otherwise). */
export function upstreamStart(
  ex: Exchange,
  route: Route,
  requests: Map<JsonRpcId, MessageEvent> | undefined,
  oneWay: MessageEvent[],
): UpstreamEvent | undefined {
  if (!channels.upstreamStart.hasSubscribers && !channels.upstreamEnd.hasSubscribers) return undefined;
  const ev: UpstreamEvent = {
    exchange: ex,
    server: route.name,
    transport: route.upstream.transport,
    address: route.upstream.address,
    messages: requests ? [...requests.values(), ...oneWay] : oneWay,
    start: performance.now(),
  };
  channels.upstreamStart.publish(ev);
  return ev;
}

export function upstreamEnd(ev: UpstreamEvent | undefined, error: GatewayError | undefined, status: number | undefined): void {
  if (!ev || ev.end !== undefined) return;
  ev.end = performance.now();
  if (error) ev.gatewayError = error.code;
  if (status !== undefined) ev.httpStatus = status;
  channels.upstreamEnd.publish(ev);
}

/** A backend call failed: one warn line and an error event. */
export function failed(logger: Logger, ex: Exchange, e: GatewayError): void {
  logger.warn("backend call failed", {
    "mcp_gateway.server": ex.server,
    "error.code": e.code,
    "error.message": e.message,
    ...traceFields(ex),
  });
  if (channels.error.hasSubscribers)
    channels.error.publish({ gatewayId: ex.gatewayId, server: ex.server, code: e.code, detail: e.detail, exchange: ex });
}
