// THE stage order. Filters declare a stage; this list alone decides when it runs.
// Listener checks (Host/Origin, body size, content negotiation) run before any stage, and the
// body is parsed once before the chain, so every stage can read the typed messages.

/**
 * The whole path of a request, from socket to upstream, in order. The first steps are the listener's
 * (listener/http-server.ts) and the codec's (codec/era-rules.ts); the chain stages follow (STAGES below);
 * the relay sends what survives upstream (relay.ts → upstream/*). The 2024-11-05 `/sse` endpoint takes
 * the same path (its POSTs are parsed and run through the same chain; its GET runs the chain stages).
 */
export const REQUEST_PATH = [
  // Host/Origin first: a request for another host or from a foreign page is refused before any work (DNS rebinding).
  "host-origin-guard",
  // route next: an unknown /mcp/{name} is 404 whoever asks; the route decides the backend and its limits.
  "route",
  // media type before reading: a body we cannot parse is not read at all (415 / 406).
  "media-type",
  // body limit while reading: memory per client is bounded; an over-limit body is drained (bounded), then 413.
  "body-limit",
  // parse once: every later stage reads the typed messages, never the text.
  "parse",
  // era rules need no identity (version, batches, Mcp-Method/Mcp-Name agreement); their errors still wait for authn.
  "era-rules",
  // the chain stages, in the order of STAGES.
  "authn",
  "session",
  "authz",
  "limits",
  "pins",
  "validation",
  "approval",
  "credentials",
  // upstream last: only what every stage let through is sent, with the forwarded-header allow-list
  // (upstream/forward-headers.ts) and the credentials stage's headers.
  "upstream",
] as const;

export const STAGES = [
  // authn first: nothing about the request may be trusted or acted on before we know who sent it,
  // and a 401 must not reveal whether a session or tool exists.
  "authn",
  // session after authn: a session id is only valid together with the principal it was bound to.
  "session",
  // authz after session: the decision input carries the session and protocol version, and it must
  // run before anything spends backend capacity (limits) or touches credentials.
  "authz",
  // limits after authz: a denied caller should not consume another caller's quota.
  "limits",
  // pins after authz (a denied caller learns nothing about a tool's state) and before validation: a call
  // to a tool whose definition changed is refused before its arguments are checked against either schema.
  "pins",
  // validation after authz: we only spend time validating arguments of calls that may happen.
  "validation",
  // approval after validation: a human is asked only about a call that is permitted and well-formed, and
  // before credentials, so no secret is fetched for a call the user may still decline.
  "approval",
  // credentials last: secrets are fetched only for messages that will really be sent upstream.
  "credentials",
] as const;

export type Stage = (typeof STAGES)[number];

export function stageIndex(s: Stage): number {
  return STAGES.indexOf(s);
}
