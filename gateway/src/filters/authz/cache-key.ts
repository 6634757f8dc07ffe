// The decision-cache key: every member of the input, arguments included, except request.time, which
// changes every call and would make every key unique. Policies that read input.request.time therefore
// see a time up to the cache TTL old: keep the TTL short (default 2 s), or 0 for time-sensitive policies.
//
// The key is a JSON array text of the input's members in a fixed order: JSON texts are self-delimiting,
// so the concatenation is injective (a hit is always the same input). No key sorting: the gateway builds
// inputs in a fixed member order and arguments keep the order the client sent, so two equal objects with
// another member order only miss the cache (measured: sorting cost ~3 µs per decision, as much as the
// cache saved). The subject's JSON (its claims can be long) is computed once per subject object: the authz
// filter reuses one subject per principal, and a principal from the token cache is shared and frozen.

import type { AuthzInput, AuthzRequestInfo, AuthzSubject, FilterItem } from "./types.ts";

// Every member of the input is in the key, or says why not: a member added to the contract without
// being added here fails to compile (and the cache-key test changes each one).
export const KEYED_MEMBERS = {
  subject: true,
  server: true,
  method: true,
  target: true,
  action: true,
  arguments: true,
  request: true,
} as const satisfies Record<keyof AuthzInput, true>;
export const KEYED_REQUEST_MEMBERS = {
  protocol_version: true,
  session: true,
  client_address: true,
  time: false, // changes every call (see above)
} as const satisfies Record<keyof AuthzRequestInfo, boolean>;

const subjectJson = new WeakMap<AuthzSubject, string>();

function subjectKey(s: AuthzSubject | null): string {
  if (s === null) return "null";
  let j = subjectJson.get(s);
  if (j === undefined) {
    j = JSON.stringify(s);
    // Only a frozen subject can be trusted to stay what was serialised.
    if (Object.isFrozen(s)) subjectJson.set(s, j);
  }
  return j;
}

const q = (v: string | null | undefined): string => (v === undefined ? "null" : JSON.stringify(v));

/** Everything but arguments and request.time, as the start of a JSON array. */
function baseKey(input: AuthzInput): string {
  const r = input.request;
  return `[${subjectKey(input.subject)},${q(input.server)},${q(input.method)},${q(input.target)},${q(input.action)},${
    r ? `${q(r.protocol_version)},${q(r.session)},${q(r.client_address)}` : "null,null,null"
  }`;
}

export function decisionKey(input: AuthzInput): string {
  // `undefined` arguments and absent ones are the same input to the policy (JSON has no undefined).
  const args = input.arguments === undefined ? "null" : JSON.stringify(input.arguments);
  return `d${baseKey(input)},${args}]`;
}

export function filterKey(base: AuthzInput, items: readonly FilterItem[]): string {
  return `f${baseKey(base)},${JSON.stringify(items)}]`;
}
