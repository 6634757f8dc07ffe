// Parse-time checks that make "authorize exactly what the backend acts on" hold: resource URIs are
// rewritten to their canonical form (the form authorized and sent), and request ids are unique per body.

import { GatewayError } from "../errors.ts";
import type { JsonObject, JsonRpcId, RpcMessage } from "./jsonrpc.ts";
import { canonicalResourceUri } from "./resource-uri.ts";

const URI_METHODS = new Set(["resources/read", "resources/subscribe", "resources/unsubscribe"]);

export interface CanonicalMessages {
  readonly messages: RpcMessage[];
  /** Some message was rewritten: the body must be re-serialised from `messages` before it goes upstream. */
  readonly changed: boolean;
}

/**
 * Replace every resource URI (and the URI template of a completion on `ref/resource`) by its canonical
 * form. Throws INVALID_RESOURCE_URI for one that has none: the request is refused, never guessed at.
 */
export function canonicalizeTargets(messages: RpcMessage[]): CanonicalMessages {
  let out: RpcMessage[] | undefined;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const next = canonicalMessage(m);
    if (next !== m) {
      out ??= messages.slice();
      out[i] = next;
    }
  }
  return out ? { messages: out, changed: true } : { messages, changed: false };
}

function canonicalMessage(m: RpcMessage): RpcMessage {
  if (m.kind === "response" || m.method === undefined || m.target === undefined) return m;
  const template = m.method === "completion/complete";
  if (!template && !URI_METHODS.has(m.method)) return m;
  if (template) {
    const ref = (m.raw.params as JsonObject).ref as JsonObject;
    if (ref.type !== "ref/resource") return m;
  }
  const c = canonicalResourceUri(m.target, template);
  if (!c.ok) throw new GatewayError("INVALID_RESOURCE_URI", c.reason);
  if (c.uri === m.target) return m;
  const params = m.raw.params as JsonObject;
  const newParams: JsonObject = template ? { ...params, ref: { ...(params.ref as JsonObject), uri: c.uri } } : { ...params, uri: c.uri };
  return { ...m, target: c.uri, raw: { ...m.raw, params: newParams } };
}

/**
 * The first request id that occurs twice among `messages`. Ids compare by their text, so `7` and `"7"`
 * count as the same: a backend (or a response filter keyed by id) must never be able to confuse two requests.
 */
export function duplicateRequestId(messages: readonly RpcMessage[]): JsonRpcId | undefined {
  if (messages.length < 2) return undefined;
  const seen = new Set<string>();
  for (const m of messages) {
    if (m.kind !== "request") continue;
    const k = String(m.id);
    if (seen.has(k)) return m.id;
    seen.add(k);
  }
  return undefined;
}
