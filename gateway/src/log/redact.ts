// Redaction shared by the logger, the audit sink and otel/: token-shaped strings, secret-named keys,
// Secret values, and opt-in JSON-path rules for recorded tool arguments/results (ARCHITECTURE.md invariant 4).

import { Secret } from "../config/secret.ts";

export const REDACTED = "[REDACTED]";

// Credentials that can appear inside free text. Each alternative is anchored on a recognisable shape so
// ordinary prose is left alone: HTTP auth schemes (RFC 6750 §2.1, RFC 7617), compact JWS/JWE
// (RFC 7515 §7.1, RFC 7516 §7.1: base64url JSON header "eyJ…"), well-known vendor token prefixes, and
// the gateway's sealed session ids.
const TOKEN_RE = new RegExp(
  [
    String.raw`\b(?:Bearer|Basic|Token|DPoP)\s+[A-Za-z0-9\-._~+/]{8,}=*`,
    String.raw`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?`,
    String.raw`\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}`,
    String.raw`\bgithub_pat_[A-Za-z0-9_]{20,}`,
    String.raw`\bhv[sbr]\.[A-Za-z0-9_-]{20,}`,
    String.raw`\bxox[abprs]-[A-Za-z0-9-]{10,}`,
    String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
    String.raw`\bsk-[A-Za-z0-9_-]{20,}`,
    // The gateway's own sealed Mcp-Session-Id (session/sealed-session.ts, prefix "g1."): a capability.
    String.raw`\bg1\.[A-Za-z0-9_-]{32,}`,
  ].join("|"),
  "gi",
);
// The shortest string any alternative can match ("Token " + 8 chars); shorter strings skip the regex.
const MIN_TOKEN_LEN = 14;

/** Keys whose values are credentials whatever they look like (compared case-insensitively, last dotted segment). */
const SENSITIVE_KEYS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "api_key",
  "apikey",
  "password",
  "passwd",
  "secret",
  "client_secret",
  "client-secret",
  "clientsecret",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "accesstoken",
  "refreshtoken",
  "private_key",
  "privatekey",
  "mcp-session-id",
]);

export function isSensitiveKey(key: string): boolean {
  if (key.length === 0) return false;
  const dot = key.lastIndexOf(".");
  const leaf = dot >= 0 ? key.slice(dot + 1) : key;
  return SENSITIVE_KEYS.has(leaf.toLowerCase());
}

/** True when the string contains something that looks like a bearer token, JWT or API token. */
export function looksLikeToken(s: string): boolean {
  if (s.length < MIN_TOKEN_LEN) return false;
  TOKEN_RE.lastIndex = 0;
  return TOKEN_RE.test(s);
}

/** The string with every token-shaped substring replaced (the auth scheme name is kept for context). */
export function redactString(s: string): string {
  if (s.length < MIN_TOKEN_LEN) return s;
  TOKEN_RE.lastIndex = 0;
  if (!TOKEN_RE.test(s)) return s;
  TOKEN_RE.lastIndex = 0;
  return s.replace(TOKEN_RE, (m) => {
    const sp = m.search(/\s/);
    return sp > 0 ? `${m.slice(0, sp)} ${REDACTED}` : REDACTED;
  });
}

/**
 * JSON.stringify replacer: Secrets, secret-named keys and token-shaped strings never reach the output.
 * (Secret.toJSON already redacts; the instanceof check also covers a Secret nested where toJSON is bypassed.)
 */
export function redactingReplacer(this: unknown, key: string, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (value instanceof Secret) return REDACTED;
  if (key !== "" && isSensitiveKey(key) && value !== "" && typeof value !== "object") return REDACTED;
  if (typeof value === "string") return redactString(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return errorFields(value);
  return value;
}

/** Serialise any value with the redacting replacer; never throws (cycles become a marker). */
export function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, redactingReplacer) ?? "null";
  } catch {
    return '"[unserialisable]"';
  }
}

export function errorFields(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.name, message: redactString(e.message) };
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  return out;
}

// ---- JSON-path rules for recorded arguments/results -------------------------------------------------
// A small, documented subset of JSONPath (RFC 9535): `$` root, `.name`, `['name']`, `[n]`, `[*]`, `.*`,
// and `..name` / `..*` (descendants). Filters and slices are not supported: the rules only name what to hide.

type Seg =
  | { readonly t: "key"; readonly k: string }
  | { readonly t: "index"; readonly i: number }
  | { readonly t: "wild" }
  | { readonly t: "desc"; readonly k: string | undefined };

export type CompiledPath = readonly Seg[];

export function compileJsonPath(path: string): CompiledPath {
  if (!path.startsWith("$")) throw new Error(`JSON path must start with "$": ${path}`);
  const segs: Seg[] = [];
  let i = 1;
  const name = /^[A-Za-z_$][\w$-]*/;
  while (i < path.length) {
    const rest = path.slice(i);
    if (rest.startsWith("..")) {
      const after = rest.slice(2);
      if (after.startsWith("*")) {
        segs.push({ t: "desc", k: undefined });
        i += 3;
        continue;
      }
      const m = name.exec(after);
      if (!m) throw new Error(`JSON path: expected a name after ".." in ${path}`);
      segs.push({ t: "desc", k: m[0] });
      i += 2 + m[0].length;
    } else if (rest.startsWith(".")) {
      const after = rest.slice(1);
      if (after.startsWith("*")) {
        segs.push({ t: "wild" });
        i += 2;
        continue;
      }
      const m = name.exec(after);
      if (!m) throw new Error(`JSON path: expected a name after "." in ${path}`);
      segs.push({ t: "key", k: m[0] });
      i += 1 + m[0].length;
    } else if (rest.startsWith("[")) {
      const m = /^\[(?:\*|(\d+)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/.exec(rest);
      if (!m) throw new Error(`JSON path: bad bracket segment in ${path}`);
      if (m[1] !== undefined) segs.push({ t: "index", i: Number(m[1]) });
      else if (m[2] !== undefined) segs.push({ t: "key", k: m[2].replace(/\\(.)/g, "$1") });
      else if (m[3] !== undefined) segs.push({ t: "key", k: m[3].replace(/\\(.)/g, "$1") });
      else segs.push({ t: "wild" });
      i += m[0].length;
    } else {
      throw new Error(`JSON path: unexpected "${rest[0]}" in ${path}`);
    }
  }
  if (segs.length === 0) throw new Error(`JSON path "$" alone would hide everything; name a member`);
  return segs;
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === "object" && v !== null;
}

/** Replace, in place, every value the path selects. `v` must be a plain JSON copy. */
function applyPath(v: unknown, segs: CompiledPath, at: number): void {
  if (at >= segs.length || !isContainer(v)) return;
  const s = segs[at]!;
  const last = at === segs.length - 1;
  const visit = (container: Record<string, unknown> | unknown[], key: string | number) => {
    if (last) (container as Record<string, unknown>)[key as string] = REDACTED;
    else applyPath((container as Record<string, unknown>)[key as string], segs, at + 1);
  };
  switch (s.t) {
    case "key":
      if (!Array.isArray(v) && Object.hasOwn(v, s.k)) visit(v, s.k);
      return;
    case "index":
      if (Array.isArray(v) && s.i < v.length) visit(v, s.i);
      return;
    case "wild":
      for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) visit(v, k);
      return;
    case "desc": {
      // Match at this level, then keep descending into every child (including the ones just matched).
      const keys = Array.isArray(v) ? [...v.keys()] : Object.keys(v);
      for (const k of keys) {
        if (s.k === undefined || (!Array.isArray(v) && k === s.k)) visit(v, k);
        const child = (v as Record<string, unknown>)[k as string];
        if (isContainer(child)) applyPath(child, segs, at);
      }
      return;
    }
  }
}

/** A JSON string of the value with rules, secret keys and tokens redacted; truncated to maxBytes. */
export type PayloadRedactor = (value: unknown) => string;

/**
 * Build the redactor for recorded arguments/results once, at config load. Paths are rooted at the
 * record: `$.arguments.password`, `$.result.structuredContent.ssn`, `$..apiKey`.
 */
export function compileRedactor(paths: readonly string[], maxBytes = 8192): { arguments: PayloadRedactor; result: PayloadRedactor } {
  const compiled = paths.map(compileJsonPath);
  const make =
    (root: "arguments" | "result"): PayloadRedactor =>
    (value) => {
      if (value === undefined) return "";
      let copy: unknown;
      try {
        copy = JSON.parse(JSON.stringify(value, redactingReplacer));
      } catch {
        return '"[unserialisable]"';
      }
      const holder: Record<string, unknown> = { [root]: copy };
      for (const p of compiled) applyPath(holder, p, 0);
      const s = JSON.stringify(holder[root]) ?? "";
      return s.length > maxBytes ? `${s.slice(0, maxBytes)}…[truncated ${s.length - maxBytes} chars]` : s;
    };
  return { arguments: make("arguments"), result: make("result") };
}
