// Canonical resource URIs: the one spelling of a URI that the policy decides on and the backend
// receives (RFC 3986 §6.2.2 syntax-based normalisation, §5.2.4 dot-segment removal).

/**
 * Why canonicalise at all: a policy glob such as `catalyst://inventory/public/*` matches the raw string
 * `…/public/../secret/keys`, while the backend (WHATWG URL, a file system) resolves the dot segments
 * and reads `…/secret/keys`. Deciding on the canonical form and sending exactly that form closes the gap.
 */
export type CanonicalUri = { readonly ok: true; readonly uri: string } | { readonly ok: false; readonly reason: string };

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const HEX = /^[0-9A-Fa-f]{2}$/;
/** RFC 3986 §2.3 unreserved characters: decoding their escapes never changes meaning (§6.2.2.2). */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
/** Separators whose escaped form a backend may decode into a path step: refused rather than guessed. */
const ENCODED_SEPARATORS = new Set(["2F", "5C", "00"]);
const MAX_URI_LENGTH = 8192;

/**
 * Canonical form of a resource URI, or the reason it has none. `template` allows the `{…}` of an
 * RFC 6570 URI template (completion/complete on `ref/resource`).
 */
export function canonicalResourceUri(input: string, template = false): CanonicalUri {
  if (input.length === 0) return { ok: false, reason: "empty URI" };
  if (input.length > MAX_URI_LENGTH) return { ok: false, reason: `longer than ${MAX_URI_LENGTH} characters` };
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    // Control characters, space, DEL and the backslash never appear in a URI (RFC 3986 §2); a tab before
    // `..` is exactly how a lenient parser is tricked into a different path than the policy saw.
    if (c <= 0x20 || c === 0x7f || c === 0x5c || (c >= 0x80 && c <= 0x9f)) {
      return { ok: false, reason: `character U+${c.toString(16).padStart(4, "0").toUpperCase()} is not allowed in a URI` };
    }
    if (!template && (c === 0x7b || c === 0x7d)) return { ok: false, reason: "braces are allowed only in URI templates" };
  }
  const m = SCHEME.exec(input);
  if (!m) return { ok: false, reason: "a resource URI needs a scheme (RFC 3986 §3.1)" };
  const scheme = m[0].slice(0, -1).toLowerCase();
  let rest = input.slice(m[0].length);

  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash !== -1) {
    fragment = rest.slice(hash);
    rest = rest.slice(0, hash);
  }
  let query = "";
  const q = rest.indexOf("?");
  if (q !== -1) {
    query = rest.slice(q);
    rest = rest.slice(0, q);
  }
  let authority: string | undefined;
  let path = rest;
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    path = slash === -1 ? "" : rest.slice(slash);
  }

  const a = authority === undefined ? { ok: true as const, text: "" } : normaliseEscapes(authority, false);
  if (!a.ok) return { ok: false, reason: a.reason };
  const p = normaliseEscapes(path, true);
  if (!p.ok) return { ok: false, reason: p.reason };
  const qs = normaliseEscapes(query, false);
  if (!qs.ok) return { ok: false, reason: qs.reason };
  const fr = normaliseEscapes(fragment, false);
  if (!fr.ok) return { ok: false, reason: fr.reason };

  // Host names are case-insensitive (§6.2.2.1); userinfo and port are kept as written.
  let auth = a.text;
  if (authority !== undefined) {
    const at = auth.lastIndexOf("@");
    const userinfo = at === -1 ? "" : auth.slice(0, at + 1);
    auth = userinfo + auth.slice(at + 1).toLowerCase();
  }
  const resolved = removeDotSegments(p.text);
  return { ok: true, uri: `${scheme}:${authority === undefined ? "" : `//${auth}`}${resolved}${qs.text}${fr.text}` };
}

/**
 * Decode each escape of an unreserved character (so `%2e%2e` is `..`), upper-case the hex of the
 * others. Malformed escapes, and escaped separators or NUL in the path, have no canonical form.
 */
function normaliseEscapes(s: string, isPath: boolean): { ok: true; text: string } | { ok: false; reason: string } {
  if (s.indexOf("%") === -1) return { ok: true, text: s };
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch !== "%") {
      out += ch;
      continue;
    }
    const hex = s.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { ok: false, reason: `malformed percent-escape "${s.slice(i, i + 3)}"` };
    const up = hex.toUpperCase();
    const decoded = String.fromCharCode(Number.parseInt(up, 16));
    if (UNRESERVED.test(decoded)) out += decoded;
    else {
      if (isPath && ENCODED_SEPARATORS.has(up)) return { ok: false, reason: `escaped separator "%${up}" in the path` };
      // A second layer of escaping (`%252e`) would decode to a dot segment in a backend that decodes twice.
      if (up === "25" && HEX.test(s.slice(i + 3, i + 5))) return { ok: false, reason: "doubly percent-encoded escape" };
      out += `%${up}`;
    }
    i += 2;
  }
  return { ok: true, text: out };
}

/** RFC 3986 §5.2.4: remove `.` and `..` segments; `..` above the root stays at the root. */
export function removeDotSegments(path: string): string {
  if (path.indexOf(".") === -1) return path;
  const absolute = path.startsWith("/");
  const segs = (absolute ? path.slice(1) : path).split("/");
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === ".") {
      if (last) out.push("");
      continue;
    }
    if (s === "..") {
      if (out.length > 0) out.pop();
      if (last) out.push("");
      continue;
    }
    out.push(s);
  }
  return (absolute ? "/" : "") + out.join("/");
}
