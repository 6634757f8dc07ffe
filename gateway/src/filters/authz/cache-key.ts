// The decision-cache key: a stable serialisation (sorted object keys) of the whole input, arguments
// included, except request.time, which changes every call and would make every key unique.
// Policies that read input.request.time therefore see a time up to the cache TTL old: keep the TTL
// short (default 2 s), or set it to 0 for time-sensitive policies.

import type { AuthzInput, FilterItem } from "./types.ts";

function stable(v: unknown, out: string[]): void {
  if (v === null || typeof v !== "object") {
    // JSON.stringify of undefined/functions is undefined: serialise as null like JSON does in arrays.
    out.push(JSON.stringify(v) ?? "null");
    return;
  }
  if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i) out.push(",");
      stable(v[i], out);
    }
    out.push("]");
    return;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  out.push("{");
  let first = true;
  for (const k of keys) {
    const x = obj[k];
    if (x === undefined) continue;
    if (!first) out.push(",");
    first = false;
    out.push(JSON.stringify(k), ":");
    stable(x, out);
  }
  out.push("}");
}

/** Stable JSON of any JSON-like value (object keys sorted, undefined members dropped). */
export function stableStringify(v: unknown): string {
  const out: string[] = [];
  stable(v, out);
  return out.join("");
}

function withoutTime(input: AuthzInput): unknown {
  const { time: _time, ...request } = input.request ?? ({} as AuthzInput["request"]);
  return { ...input, request };
}

export function decisionKey(input: AuthzInput): string {
  return `d${stableStringify(withoutTime(input))}`;
}

export function filterKey(base: AuthzInput, items: readonly FilterItem[]): string {
  return `f${stableStringify(withoutTime(base))}${stableStringify(items)}`;
}
