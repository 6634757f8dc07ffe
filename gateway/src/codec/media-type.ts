// Media types and Accept lists parsed per RFC 9110 §8.3.1 / §12.5.1: type and subtype are
// case-insensitive, parameters follow a ";". `application/jsonp` is not JSON; `APPLICATION/JSON` is.

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export interface MediaType {
  readonly type: string;
  readonly subtype: string;
  readonly params: ReadonlyMap<string, string>;
}

/** Parse one media type (`type/subtype *( OWS ";" OWS parameter )`); undefined when malformed. */
export function parseMediaType(value: string): MediaType | undefined {
  const parts = splitParams(value);
  const essence = parts[0]!.trim();
  const slash = essence.indexOf("/");
  if (slash <= 0) return undefined;
  const type = essence.slice(0, slash).toLowerCase();
  const subtype = essence.slice(slash + 1).toLowerCase();
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;
  const params = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const t = p.trim();
    if (t === "") continue;
    const eq = t.indexOf("=");
    if (eq <= 0) return undefined;
    const name = t.slice(0, eq).trim().toLowerCase();
    let v = t.slice(eq + 1).trim();
    if (!TOKEN.test(name)) return undefined;
    if (v.startsWith('"')) {
      if (v.length < 2 || !v.endsWith('"')) return undefined;
      v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    } else if (!TOKEN.test(v)) return undefined;
    params.set(name, v);
  }
  return { type, subtype, params };
}

/** Split on ";" outside quoted strings. */
function splitParams(value: string): string[] {
  if (value.indexOf('"') === -1) return value.split(";");
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === "\\" && i + 1 < value.length) {
      cur += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ";" && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** A JSON request body: `application/json`, any case, with parameters; a charset, when given, is UTF-8. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === "application/json") return true; // what nearly every client sends: no parse
  const m = parseMediaType(value);
  if (m?.type !== "application" || m.subtype !== "json") return false;
  const cs = m.params.get("charset");
  return cs === undefined || cs.toLowerCase() === "utf-8";
}

/**
 * Whether an Accept header accepts `type/subtype`: a matching range (exact, `type/*` or `* /*`) whose
 * q is not 0. The most specific range decides (RFC 9110 §12.5.1).
 */
export function accepts(accept: string | undefined, type: string, subtype: string): boolean {
  if (accept === undefined) return false;
  // A client sends the same Accept on every request: the verdict is memoised per (value, type), bounded
  // because the value is the caller's to choose.
  const k = `${type}/${subtype}\u0000${accept}`;
  let v = acceptVerdicts.get(k);
  if (v === undefined) {
    v = acceptsUncached(accept, type, subtype);
    if (acceptVerdicts.size < ACCEPT_VERDICTS_MAX) acceptVerdicts.set(k, v);
  }
  return v;
}

const ACCEPT_VERDICTS_MAX = 512;
const acceptVerdicts = new Map<string, boolean>();

function acceptsUncached(accept: string, type: string, subtype: string): boolean {
  let best = -1;
  let q = 0;
  for (const item of splitList(accept)) {
    const m = parseMediaType(item);
    if (!m) continue;
    const spec =
      m.type === type && m.subtype === subtype
        ? 2
        : m.type === type && m.subtype === "*"
          ? 1
          : m.type === "*" && m.subtype === "*"
            ? 0
            : -1;
    if (spec < best || spec === -1) continue;
    const qv = m.params.get("q");
    const n = qv === undefined ? 1 : Number(qv);
    if (spec > best) {
      best = spec;
      q = Number.isFinite(n) ? n : 0;
    }
  }
  return best >= 0 && q > 0;
}

function splitList(v: string): string[] {
  if (v.indexOf('"') === -1) return v.split(",");
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const c of v) {
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}
