// Which methods exist in which protocol era, and the JSON-RPC members a request may carry: what the
// backend would hold open or silently ignore is refused by the gateway at once, with a documented error.

import { GatewayError } from "../errors.ts";
import { isSessionless } from "./era.ts";
import type { RpcMessage } from "./jsonrpc.ts";

/** Client→server methods that exist only from 2026-07-28 on (MCP 2026-07-28: stateless requests). */
const MODERN_ONLY = new Set(["subscriptions/listen", "server/discover"]);

/** The first message whose method does not exist in `version`, as METHOD_NOT_IN_VERSION. */
export function eraRefusal(messages: readonly RpcMessage[], version: string): GatewayError | undefined {
  if (isSessionless(version)) return undefined;
  for (const m of messages) {
    if (m.kind === "request" && m.method !== undefined && MODERN_ONLY.has(m.method)) {
      return new GatewayError("METHOD_NOT_IN_VERSION", `"${m.method}" exists from protocol version 2026-07-28; this session is ${version}`);
    }
  }
  return undefined;
}

/** JSON-RPC 2.0 §4: a request or notification has exactly these members. */
const REQUEST_MEMBERS = new Set(["jsonrpc", "id", "method", "params"]);

/**
 * A request or notification with a member JSON-RPC does not define (`{"jsonrpc":"2.0","id":1,
 * "method":"ping","x":1}`) is refused: SDK backends drop such a message without answering, and the
 * client would wait for the whole timeout.
 */
export function unknownMember(messages: readonly RpcMessage[]): GatewayError | undefined {
  for (const m of messages) {
    if (m.kind === "response") continue;
    for (const k in m.raw) {
      if (!REQUEST_MEMBERS.has(k))
        return new GatewayError("INVALID_REQUEST", `member "${k.slice(0, 64)}" is not part of a JSON-RPC request`);
    }
  }
  return undefined;
}
