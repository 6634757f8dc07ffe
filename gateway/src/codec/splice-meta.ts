// Trace context into a request's `params._meta` by editing the JSON text, not by re-serialising the
// message: the body keeps the client's bytes (number spellings, member order) and costs no stringify.

import { stringAt, stringEnd } from "./json-depth.ts";

/**
 * `text` (one JSON-RPC message object, already parsed and free of duplicate member names) with
 * `"_meta": add` as the first member of its top-level `params` object, or with `"params":{"_meta":…}` added
 * when it has none. Undefined when that cannot be done by insertion (params is not an object, or already
 * has `_meta`: the caller merges by re-serialising).
 */
export function spliceMeta(text: string, add: Readonly<Record<string, string>>, params: unknown): string | undefined {
  if (params !== undefined && (typeof params !== "object" || params === null || Array.isArray(params))) return undefined;
  if (params !== undefined && Object.hasOwn(params, "_meta")) return undefined;
  const meta = `"_meta":${JSON.stringify(add)}`;
  const n = text.length;
  let depth = 0;
  let expectName = false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      i = stringEnd(text, i);
      if (!(expectName && depth === 1)) {
        expectName = false;
        continue;
      }
      expectName = false;
      if (stringAt(text, start, i) !== "params") continue;
      // The value: skip whitespace and the colon; it must be the object `params` was parsed from.
      let j = i + 1;
      while (j < n && text.charCodeAt(j) !== 0x3a) j++;
      for (j++; j < n && isSpace(text.charCodeAt(j)); j++);
      if (text.charCodeAt(j) !== 0x7b) return undefined;
      let k = j + 1;
      while (k < n && isSpace(text.charCodeAt(k))) k++;
      const empty = text.charCodeAt(k) === 0x7d;
      return `${text.slice(0, j + 1)}${meta}${empty ? "" : ","}${text.slice(j + 1)}`;
    }
    // Only the members of the top-level object matter: names are expected after its "{" and its commas.
    if (c === 0x7b || c === 0x5b) {
      depth++;
      expectName = c === 0x7b && depth === 1;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      expectName = false;
    } else if (c === 0x2c) expectName = depth === 1;
  }
  if (params !== undefined) return undefined; // parsed params but not found in the text: leave it to stringify
  // No params: add it as the last member of the message.
  const end = text.lastIndexOf("}");
  if (end <= 0) return undefined;
  let p = end - 1;
  while (p >= 0 && isSpace(text.charCodeAt(p))) p--;
  return `${text.slice(0, end)}${text.charCodeAt(p) === 0x7b ? "" : ","}"params":{${meta}}${text.slice(end)}`;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
