// THE stage order. Filters declare a stage; this list alone decides when it runs.
// Listener checks (Host/Origin, body size, content negotiation) run before any stage, and the
// body is parsed once before the chain, so every stage can read the typed messages.

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
