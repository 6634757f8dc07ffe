// The per-era rules of a request body that need no identity: JSON-RPC shape, the protocol version
// (header, `_meta`, initialize), batches, initialize alone, 2026-07-28 header/body agreement.

import type { IncomingHttpHeaders } from "node:http";
import { GatewayError } from "../errors.ts";
import { isKnownVersion, isSessionless, META_PROTOCOL_VERSION, MODERN, PROTOCOL_VERSIONS } from "./era.ts";
import { unknownMember } from "./era-methods.ts";
import { isObject, metaOf, parseBody, type RpcMessage } from "./jsonrpc.ts";
import { canonicalizeTargets, duplicateRequestId } from "./request-targets.ts";
import { canonicalResourceUri } from "./resource-uri.ts";

/** What parsing fills in on an exchange. */
export interface ParseTarget {
  readonly headers: IncomingHttpHeaders;
  messages: RpcMessage[];
  batch: boolean;
  protocolVersion: string;
  /** The body carries an initialize request. */
  opening: boolean;
  /** 2026-07-28: no session. */
  modern: boolean;
  /** A message was rewritten at parse time (canonical resource URIs): the body is re-serialised. */
  rewritten: boolean;
}

/**
 * Parse a POST body into the exchange and apply the per-era rules that need no identity:
 * JSON-RPC shape, initialize alone, 2026-07-28 header/body agreement.
 */
export function parseExchange(ex: ParseTarget, bodyText: string): GatewayError | undefined {
  let parsed: ReturnType<typeof parseBody>;
  try {
    parsed = parseBody(bodyText);
  } catch (e) {
    return e as GatewayError;
  }
  ex.messages = parsed.messages;
  ex.batch = parsed.batch;
  const dup = duplicateRequestId(parsed.messages);
  if (dup !== undefined)
    return new GatewayError("DUPLICATE_REQUEST_ID", `id ${JSON.stringify(dup).slice(0, 64)} occurs twice in the batch`);
  const extra = unknownMember(parsed.messages);
  if (extra) return extra;
  // Authorization and the backend see one canonical form of every target (resource URIs).
  try {
    const c = canonicalizeTargets(parsed.messages);
    if (c.changed) {
      ex.messages = c.messages;
      ex.rewritten = true;
    }
  } catch (e) {
    return e as GatewayError;
  }
  const first = ex.messages[0]!;
  const header = ex.headers["mcp-protocol-version"];
  const meta = first.kind !== "response" ? metaOf(first.raw)?.[META_PROTOCOL_VERSION] : undefined;
  const metaVersion = typeof meta === "string" ? meta : undefined;
  const unsupported = (v: string) =>
    new GatewayError("UNSUPPORTED_PROTOCOL_VERSION", `"${v.slice(0, 40)}"`).withData({ supported: PROTOCOL_VERSIONS, requested: v });
  if (typeof header === "string" && !isKnownVersion(header)) return unsupported(header);
  if (metaVersion !== undefined && !isKnownVersion(metaVersion) && metaVersion >= MODERN) return unsupported(metaVersion);
  const version = typeof header === "string" ? header : metaVersion;
  if (version !== undefined && isSessionless(version)) {
    ex.modern = true;
    ex.protocolVersion = version;
    if (parsed.batch) return new GatewayError("BATCH_NOT_ALLOWED");
    // The header and `_meta` must agree: a request is never relayed under two versions at once.
    if (typeof header === "string" && metaVersion !== undefined && metaVersion !== header) {
      return new GatewayError("HEADER_MISMATCH", `MCP-Protocol-Version is "${header}", _meta says "${metaVersion}"`);
    }
    return checkModernHeaders(ex, first);
  }
  if (metaVersion !== undefined && isSessionless(metaVersion)) {
    return new GatewayError("HEADER_MISMATCH", `MCP-Protocol-Version is "${String(header)}", _meta says "${metaVersion}"`);
  }
  for (const m of ex.messages) {
    if (m.method === "initialize" && m.kind === "request") {
      if (parsed.batch) return new GatewayError("INVALID_REQUEST", "initialize must not be part of a batch");
      ex.opening = true;
      const pv = isObject(m.raw.params) ? m.raw.params.protocolVersion : undefined;
      if (typeof pv === "string") ex.protocolVersion = pv;
    }
  }
  return undefined;
}

/**
 * 2026-07-28 "Server Validation": a request carries Mcp-Method equal to its method, and tools/call,
 * prompts/get, resources/read carry Mcp-Name equal to the name/URI (Base64 form `=?base64?…?=` for
 * values that are not plain ASCII). Missing or different → 400, -32020. Notifications have no header rules.
 */
function checkModernHeaders(ex: ParseTarget, m: RpcMessage): GatewayError | undefined {
  if (m.kind !== "request") return undefined;
  const hm = ex.headers["mcp-method"];
  if (hm !== m.method) {
    return new GatewayError(
      "HEADER_MISMATCH",
      hm === undefined ? "Mcp-Method header is missing" : `Mcp-Method is "${String(hm).slice(0, 64)}", body method is "${m.method ?? ""}"`,
    );
  }
  if (m.method === "tools/call" || m.method === "prompts/get" || m.method === "resources/read") {
    const hn = ex.headers["mcp-name"];
    const what = m.method === "resources/read" ? "uri" : "name";
    if (typeof hn !== "string") return new GatewayError("HEADER_MISMATCH", "Mcp-Name header is missing");
    const named = m.method === "resources/read" ? canonicalHeaderUri(hn) : decodeHeaderValue(hn);
    if (named !== m.target) return new GatewayError("HEADER_MISMATCH", `Mcp-Name does not match the ${what} in the body`);
    // The backend checks the header against the body too: both carry the canonical form.
    if (hn !== named) ex.headers["mcp-name"] = encodeHeaderValue(named);
  }
  return undefined;
}

/** Header values that are not plain ASCII travel as `=?base64?<base64 of UTF-8>?=` (2026-07-28). */
export function decodeHeaderValue(v: string): string | undefined {
  if (!v.startsWith("=?base64?") || !v.endsWith("?=")) return v;
  const b64 = v.slice(9, -2);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return Buffer.from(b64, "base64").toString("utf8");
}

/** Mcp-Name of a resources/read, in the canonical form the body's URI was rewritten to. */
function canonicalHeaderUri(v: string): string | undefined {
  const d = decodeHeaderValue(v);
  if (d === undefined) return undefined;
  const c = canonicalResourceUri(d);
  return c.ok ? c.uri : undefined;
}

/** Plain ASCII as is, anything else in the `=?base64?…?=` form (2026-07-28). */
function encodeHeaderValue(v: string | undefined): string {
  if (v === undefined) return "";
  return /^[\x20-\x7e]*$/.test(v) ? v : `=?base64?${Buffer.from(v, "utf8").toString("base64")}?=`;
}
