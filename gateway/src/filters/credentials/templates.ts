// Templates of the credentials block: per-user secret paths (`users/{sub}/github`, filled from the
// Principal) and injected values (`Bearer {token}`, filled from the secret's keys). Compiled once at
// start; the request path only concatenates.
//
// A Principal value substituted into a path must be one safe path segment: restricted charset, no
// `/`, no `..`, no percent-encoding, so no caller can make a template read outside its prefix.

import type { Principal } from "../../chain/types.ts";
import type { Secret } from "../../config/secret.ts";

/** Principal fields a path template may use. `claims.<name>` reads a string claim. */
export type PrincipalField = "sub" | "clientId" | "tenant" | `claims.${string}`;

type Part = string | { readonly field: string };

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PATH_FIELD = /^(sub|clientId|tenant|claims\.[A-Za-z0-9_:-]{1,64})$/;
const SECRET_KEY = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * One substituted path segment: letters, digits and `@ . _ + -`, 1-128 characters, not `.`/`..`
 * and no `..` anywhere. `/`, `%`, `\`, `?`, `#`, whitespace and control characters are refused.
 */
const SAFE_SEGMENT = /^[A-Za-z0-9@._+-]{1,128}$/;

export function isSafeSegment(v: string): boolean {
  return SAFE_SEGMENT.test(v) && !v.includes("..") && v !== ".";
}

/** A segment of a configured (non-template) path: no `..`, no query or fragment, no backslash. */
export function checkStaticPath(p: string): string | undefined {
  if (!p || p.trim() !== p) return "must be a non-empty path without surrounding spaces";
  if (/[?#%\\\s]/.test(p)) return "must not contain ?, #, %, \\ or whitespace";
  if (p.split("/").some((s) => s === ".." || s === ".")) return "must not contain . or .. segments";
  return undefined;
}

export class PathTemplate {
  readonly source: string;
  readonly #parts: readonly Part[];
  readonly fields: readonly string[];

  constructor(source: string) {
    this.source = source;
    const parts: Part[] = [];
    const fields: string[] = [];
    let last = 0;
    for (const m of source.matchAll(PLACEHOLDER)) {
      const name = m[1] ?? "";
      if (!PATH_FIELD.test(name)) {
        throw new Error(`unknown placeholder {${name}} in path "${source}" (allowed: {sub}, {clientId}, {tenant}, {claims.<name>})`);
      }
      parts.push(source.slice(last, m.index));
      parts.push({ field: name });
      fields.push(name);
      last = m.index + m[0].length;
    }
    parts.push(source.slice(last));
    const literal = parts.filter((p): p is string => typeof p === "string").join("\u0000");
    if (literal.includes("{") || literal.includes("}")) throw new Error(`unbalanced braces in path "${source}"`);
    const problem = checkStaticPath(source.replace(PLACEHOLDER, "x"));
    if (problem) throw new Error(`path "${source}" ${problem}`);
    this.#parts = parts.filter((p) => p !== "");
    this.fields = fields;
  }

  get perUser(): boolean {
    return this.fields.length > 0;
  }

  /**
   * The path for this caller, or a refusal naming the field (never its value: the value is
   * attacker-chosen and goes to logs).
   */
  render(principal: Principal | undefined): { ok: true; path: string } | { ok: false; field: string } {
    if (!this.perUser) return { ok: true, path: this.source };
    let out = "";
    for (const p of this.#parts) {
      if (typeof p === "string") {
        out += p;
        continue;
      }
      const v = principal ? principalField(principal, p.field) : undefined;
      if (v === undefined || !isSafeSegment(v)) return { ok: false, field: p.field };
      out += v;
    }
    return { ok: true, path: out };
  }
}

function principalField(p: Principal, field: string): string | undefined {
  if (field === "sub") return p.sub;
  if (field === "clientId") return p.clientId;
  if (field === "tenant") return p.tenant;
  const v = p.claims[field.slice("claims.".length)];
  return typeof v === "string" ? v : undefined;
}

/** `Bearer {token}`: literal text and secret keys. */
export class ValueTemplate {
  readonly source: string;
  readonly #parts: readonly Part[];
  readonly keys: readonly string[];

  constructor(source: string) {
    this.source = source;
    const parts: Part[] = [];
    const keys: string[] = [];
    let last = 0;
    for (const m of source.matchAll(PLACEHOLDER)) {
      const key = m[1] ?? "";
      if (!SECRET_KEY.test(key)) throw new Error(`bad placeholder {${key}} in "${source}" (a secret key: [A-Za-z0-9_.-])`);
      parts.push(source.slice(last, m.index));
      parts.push({ field: key });
      keys.push(key);
      last = m.index + m[0].length;
    }
    parts.push(source.slice(last));
    this.#parts = parts.filter((p) => p !== "");
    this.keys = keys;
  }

  /** The filled value, or the first key missing from the secret. */
  render(values: Readonly<Record<string, Secret>>): { ok: true; value: string } | { ok: false; missing: string } {
    let out = "";
    for (const p of this.#parts) {
      if (typeof p === "string") {
        out += p;
        continue;
      }
      const s = values[p.field];
      if (!s) return { ok: false, missing: p.field };
      out += s.reveal();
    }
    return { ok: true, value: out };
  }
}
