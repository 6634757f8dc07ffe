// Config errors that name the mistake: an unknown key names the closest valid key, an enum or discriminator
// names the closest allowed value, and a union names the branch the value most resembles and what is wrong with it.

import type { z } from "zod";

type RawIssue = Parameters<NonNullable<Parameters<z.ZodType["safeParse"]>[1]>["error"] & {}>[0];
type Issue = z.core.$ZodIssue;

/** Levenshtein distance, bounded: names further apart than `max` are not suggestions. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The candidate closest to `word` (case-insensitive), if it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const max = Math.max(2, Math.floor(w.length / 2));
  let best: string | undefined;
  let bestD = max + 1;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    // A valid key inside the word (decisionCache → cache) or the word a prefix of one (time → timeoutMs) is a near miss.
    const contained = lc.length >= 3 && (w.endsWith(lc) || w.startsWith(lc) || (w.length >= 3 && lc.startsWith(w)));
    const d = contained ? 1 : distance(w, lc, max);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

const quote = (v: unknown) => JSON.stringify(v);

/**
 * Per-parse error map: only for issues without a message of their own, so the schema's custom messages win
 * (zod: schema error > per-parse error). Knows the object's keys through the issue's schema instance.
 */
export function configErrorMap(iss: RawIssue): string | undefined {
  if (iss.code === "unrecognized_keys") {
    const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
    const known = shape ? Object.keys(shape) : [];
    return iss.keys
      .map((k) => {
        const near = closest(k, known);
        return `unknown key ${quote(k)}${near ? ` (did you mean ${quote(near)}?)` : known.length ? ` (valid keys: ${known.join(", ")})` : ""}`;
      })
      .join("; ");
  }
  if (iss.code === "invalid_type" && iss.input === undefined) return `required (${iss.expected})`;
  if (iss.code === "invalid_value" && typeof iss.input === "string") {
    const values = iss.values.map(String);
    const near = closest(iss.input, values);
    return `${quote(iss.input)} is not one of ${iss.values.map(quote).join(", ")}${near ? ` (did you mean ${quote(near)}?)` : ""}`;
  }
  if (iss.code === "invalid_union" && "discriminator" in iss && Array.isArray((iss as { options?: unknown[] }).options)) {
    const options = ((iss as { options: unknown[] }).options ?? []).map(String);
    const input = iss.input;
    const near = typeof input === "string" ? closest(input, options) : undefined;
    const got = input === undefined ? "missing" : `${quote(input)} is not one of ${options.map(quote).join(", ")}`;
    return `${got}${near ? ` (did you mean ${quote(near)}?)` : ""}`;
  }
  return undefined;
}

/**
 * How far a union branch is from matching: unknown keys + missing or wrong fields; a value of another type
 * altogether (an object where the branch wants `false`) is furthest.
 */
function misfit(issues: readonly Issue[]): number {
  let n = 0;
  for (const i of issues) {
    if (i.code === "unrecognized_keys") n += i.keys.length;
    else if (i.code === "invalid_union") n += 1 + (i.errors.length ? Math.min(3, ...i.errors.map(misfit)) : 0);
    else if ((i.code === "invalid_type" || i.code === "invalid_value") && i.path.length === 0) n += 10;
    else n += 1;
  }
  return n;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || "(root)";
}

/** One line per issue: `path: message`; a union issue adds the closest branch's own issues. */
export function formatConfigIssues(issues: readonly Issue[], base: ReadonlyArray<PropertyKey> = []): string[] {
  const out: string[] = [];
  for (const i of issues) {
    const path = [...base, ...i.path];
    if (i.code === "invalid_union" && i.errors.length > 0) {
      // The branch the value most resembles: fewest unknown keys and missing fields.
      let best = i.errors[0]!;
      for (const b of i.errors) if (misfit(b) < misfit(best)) best = b;
      const detail = formatConfigIssues(best, path);
      // zod's generic "Invalid input" says nothing the branch's own issues do not.
      if (i.message === "Invalid input") out.push(...detail);
      else out.push(`${formatPath(path)}: ${i.message}; closest form: ${detail.join("; ")}`);
      continue;
    }
    out.push(`${formatPath(path)}: ${i.message}`);
  }
  return out;
}
