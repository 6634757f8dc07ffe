// Refusals that no message event describes (bad route, Host/Origin, media type, body limits, a body that
// does not parse, a request refused from its headers): published once on their own diagnostics channel,
// so the audit log has a record of every refusal, and a flood of them stays bounded (refusal-audit.ts).

import diagnostics_channel from "node:diagnostics_channel";
import type { IncomingMessage } from "node:http";
import type { Principal } from "../chain/types.ts";
import type { ErrorCode } from "../errors.ts";

export const refusalChannel = diagnostics_channel.channel("mcp-gateway:refusal");

export interface RefusalEvent {
  readonly gatewayId: string | undefined;
  /** Route name when the path named a configured one. */
  readonly server: string | undefined;
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly httpMethod: string;
  /** Path only (no query string: it may hold a token a client misplaced). */
  readonly path: string;
  readonly clientAddress: string;
  readonly principal: Principal | undefined;
  readonly time: number;
}

export function publishRefusal(
  req: IncomingMessage | undefined,
  code: ErrorCode,
  httpStatus: number,
  gatewayId: string | undefined,
  server: string | undefined,
  principal: Principal | undefined,
): void {
  if (!refusalChannel.hasSubscribers) return;
  const url = req?.url ?? "";
  const q = url.indexOf("?");
  const ev: RefusalEvent = {
    gatewayId,
    server,
    code,
    httpStatus,
    httpMethod: req?.method ?? "",
    path: (q === -1 ? url : url.slice(0, q)).slice(0, 256),
    clientAddress: req?.socket.remoteAddress ?? "",
    principal,
    time: Date.now(),
  };
  refusalChannel.publish(ev);
}
