// Turns validated tool arguments into an HTTP request exactly as the operation describes it: parameter
// style/explode (OpenAPI 3.x "Style Values"), allowReserved, content-typed parameters, body media types.

import type { ParamPlan, RequestPlan } from "./build-tools.ts";
import type { Credentials } from "./security.ts";

export interface BuiltRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer | undefined;
}

type Value = unknown;

/** RFC 3986 unreserved stays; with allowReserved the reserved set (":/?#[]@!$&'()*+,;=") stays too. */
function enc(v: string, allowReserved: boolean): string {
  const e = encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (!allowReserved) return e;
  return e.replace(/%(3A|2F|3F|23|5B|5D|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/gi, (m) => decodeURIComponent(m));
}

function scalar(v: Value): string {
  if (v === null) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function isPlainObject(v: Value): v is Record<string, Value> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Path parameter: simple, label or matrix. */
function pathValue(p: ParamPlan, v: Value): string {
  const e = (s: string) => enc(s, p.allowReserved);
  if (p.contentType) return e(JSON.stringify(v));
  const { style, explode, name } = p;
  if (Array.isArray(v)) {
    const items = v.map((x) => e(scalar(x)));
    if (style === "label") return `.${items.join(explode ? "." : ",")}`;
    if (style === "matrix") return explode ? items.map((i) => `;${name}=${i}`).join("") : `;${name}=${items.join(",")}`;
    return items.join(",");
  }
  if (isPlainObject(v)) {
    const pairs = Object.entries(v).map(([k, x]) => [e(k), e(scalar(x))] as const);
    if (style === "label") return `.${pairs.map(([k, x]) => (explode ? `${k}=${x}` : `${k},${x}`)).join(explode ? "." : ",")}`;
    if (style === "matrix") return explode ? pairs.map(([k, x]) => `;${k}=${x}`).join("") : `;${name}=${pairs.flat().join(",")}`;
    return explode ? pairs.map(([k, x]) => `${k}=${x}`).join(",") : pairs.flat().join(",");
  }
  const s = e(scalar(v));
  if (style === "label") return `.${s}`;
  if (style === "matrix") return `;${name}=${s}`;
  return s;
}

/** Query parameter: form, spaceDelimited, pipeDelimited or deepObject; returns `k=v` pieces. */
function queryPieces(p: ParamPlan, v: Value): string[] {
  const e = (s: string) => enc(s, p.allowReserved);
  const n = enc(p.name, false);
  if (p.contentType) return [`${n}=${e(JSON.stringify(v))}`];
  const { style, explode } = p;
  if (Array.isArray(v)) {
    const items = v.map((x) => e(scalar(x)));
    if (explode) return items.map((i) => `${n}=${i}`);
    const sep = style === "spaceDelimited" ? "%20" : style === "pipeDelimited" ? "|" : ",";
    return [`${n}=${items.join(sep)}`];
  }
  if (isPlainObject(v)) {
    const pairs = Object.entries(v);
    if (style === "deepObject") return pairs.map(([k, x]) => `${n}%5B${e(k)}%5D=${e(scalar(x))}`);
    if (explode) return pairs.map(([k, x]) => `${e(k)}=${e(scalar(x))}`);
    const sep = style === "spaceDelimited" ? "%20" : style === "pipeDelimited" ? "|" : ",";
    return [`${n}=${pairs.map(([k, x]) => `${e(k)}${sep}${e(scalar(x))}`).join(sep)}`];
  }
  return [`${n}=${e(scalar(v))}`];
}

/** Header parameter: simple style. */
function headerValue(p: ParamPlan, v: Value): string {
  if (p.contentType) return JSON.stringify(v);
  if (Array.isArray(v)) return v.map(scalar).join(",");
  if (isPlainObject(v))
    return Object.entries(v)
      .map(([k, x]) => (p.explode ? `${k}=${scalar(x)}` : `${k},${scalar(x)}`))
      .join(",");
  return scalar(v);
}

function cookieValue(p: ParamPlan, v: Value): string {
  if (p.contentType) return encodeURIComponent(JSON.stringify(v));
  if (Array.isArray(v)) return v.map((x) => encodeURIComponent(scalar(x))).join(",");
  if (isPlainObject(v))
    return Object.entries(v)
      .flatMap(([k, x]) => [k, encodeURIComponent(scalar(x))])
      .join(",");
  return encodeURIComponent(scalar(v));
}

function formBody(v: Value): string {
  if (!isPlainObject(v)) return scalar(v);
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    if (Array.isArray(x)) for (const i of x) parts.push(`${enc(k, false)}=${enc(scalar(i), false)}`);
    else parts.push(`${enc(k, false)}=${enc(scalar(x), false)}`);
  }
  return parts.join("&");
}

/** multipart/form-data with one part per property (objects as JSON parts), RFC 7578. */
function multipartBody(v: Value): { body: Buffer; type: string } {
  const boundary = `----mcp-openapi-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const chunks: string[] = [];
  const obj = isPlainObject(v) ? v : { value: v };
  for (const [k, x] of Object.entries(obj)) {
    if (x === undefined) continue;
    for (const item of Array.isArray(x) ? x : [x]) {
      const json = item !== null && typeof item === "object";
      chunks.push(
        `--${boundary}\r\ncontent-disposition: form-data; name="${k.replace(/"/g, "%22")}"\r\n` +
          (json ? "content-type: application/json\r\n" : "") +
          `\r\n${json ? JSON.stringify(item) : scalar(item)}\r\n`,
      );
    }
  }
  chunks.push(`--${boundary}--\r\n`);
  return { body: Buffer.from(chunks.join(""), "utf8"), type: `multipart/form-data; boundary=${boundary}` };
}

/** The request for one call; `args` were validated against the tool's inputSchema. */
export function buildRequest(baseUrl: string, plan: RequestPlan, args: Record<string, unknown>, creds: Credentials): BuiltRequest {
  let path = plan.path;
  const query: string[] = [];
  const headers: Record<string, string> = { accept: plan.accept };
  const cookies: string[] = [];
  for (const p of plan.params) {
    const v = args[p.arg];
    if (v === undefined) continue;
    switch (p.in) {
      case "path":
        path = path.replaceAll(`{${p.name}}`, pathValue(p, v));
        break;
      case "query":
        query.push(...queryPieces(p, v));
        break;
      case "header":
        headers[p.name.toLowerCase()] = headerValue(p, v);
        break;
      case "cookie":
        cookies.push(`${p.name}=${cookieValue(p, v)}`);
        break;
    }
  }
  for (const [k, v] of creds.query) query.push(`${enc(k, false)}=${enc(v, false)}`);
  for (const [k, v] of creds.cookies) cookies.push(`${k}=${encodeURIComponent(v)}`);
  Object.assign(headers, creds.headers);
  if (cookies.length) headers.cookie = cookies.join("; ");
  let body: string | Buffer | undefined;
  const b = args.body;
  if (plan.body && b !== undefined) {
    const mt = plan.body.mediaType;
    const base = mt.split(";")[0]!.trim().toLowerCase();
    if (base === "application/json" || base.endsWith("+json")) {
      body = JSON.stringify(b);
      headers["content-type"] = mt;
    } else if (base === "application/x-www-form-urlencoded") {
      body = formBody(b);
      headers["content-type"] = mt;
    } else if (base === "multipart/form-data") {
      const m = multipartBody(b);
      body = m.body;
      headers["content-type"] = m.type;
    } else if (base.startsWith("text/") || typeof b === "string") {
      // Binary media types take a base64 string (the schema says contentEncoding: base64 for format: binary).
      body = typeof b === "string" && !base.startsWith("text/") ? Buffer.from(b, "base64") : scalar(b);
      headers["content-type"] = mt;
    } else {
      body = JSON.stringify(b);
      headers["content-type"] = mt;
    }
  }
  const qs = query.length ? (plan.path.includes("?") ? "&" : "?") + query.join("&") : "";
  return { url: baseUrl.replace(/\/+$/, "") + path + qs, method: plan.method, headers, body };
}
