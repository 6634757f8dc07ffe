// JSON-RPC 2.0 parsing for MCP: one parse per body, then typed attributes every later stage reads.
// Spec: https://www.jsonrpc.org/specification and MCP "Base Protocol" (ids are strings or integers).

import { GatewayError } from "../errors.ts";
import { checkJsonText, MAX_JSON_DEPTH } from "./json-depth.ts";

export type JsonRpcId = string | number;
export type JsonObject = Record<string, unknown>;

export type MessageKind = "request" | "notification" | "response";

/** One JSON-RPC message with the attributes later stages read. `raw` is the parsed object itself. */
export interface RpcMessage {
  readonly kind: MessageKind;
  readonly id: JsonRpcId | undefined;
  readonly method: string | undefined;
  /** Tool or prompt name, or resource URI, when the method has one. */
  readonly target: string | undefined;
  /** tools/call arguments (or prompts/get arguments). */
  readonly arguments: unknown;
  readonly raw: JsonObject;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The name/URI a method acts on: the value `Mcp-Name` must equal in 2026-07-28. */
export function targetOf(method: string, params: unknown): string | undefined {
  if (!isObject(params)) return undefined;
  switch (method) {
    case "tools/call":
    case "prompts/get":
      return typeof params.name === "string" ? params.name : undefined;
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      return typeof params.uri === "string" ? params.uri : undefined;
    case "completion/complete": {
      // The target is what the backend completes against: the URI template of a `ref/resource`, the
      // name of a `ref/prompt` (docs/authorization.md, "What each method acts on"). Any other shape has none.
      const ref = params.ref;
      if (!isObject(ref)) return undefined;
      if (ref.type === "ref/resource") return typeof ref.uri === "string" ? ref.uri : undefined;
      if (ref.type === "ref/prompt") return typeof ref.name === "string" ? ref.name : undefined;
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Classify one parsed value as a JSON-RPC message. Throws INVALID_REQUEST with a precise reason
 * for anything that is not one (wrong `jsonrpc`, id of the wrong type, params not an object …).
 */
export function toMessage(v: unknown): RpcMessage {
  if (!isObject(v)) throw new GatewayError("INVALID_REQUEST", "message must be a JSON object");
  if (v.jsonrpc !== "2.0") throw new GatewayError("INVALID_REQUEST", 'member "jsonrpc" must be "2.0"');
  const id = v.id;
  const hasId = id !== undefined && id !== null;
  // A null id is legal only on an error response to a request whose id could not be read.
  if (id === null && (v.method !== undefined || !("error" in v)))
    throw new GatewayError("INVALID_REQUEST", 'member "id" must be a string or an integer');
  if (hasId && typeof id !== "string" && !(typeof id === "number" && Number.isInteger(id))) {
    throw new GatewayError("INVALID_REQUEST", 'member "id" must be a string or an integer');
  }
  if (v.method !== undefined) {
    if (typeof v.method !== "string" || v.method.length === 0) {
      throw new GatewayError("INVALID_REQUEST", 'member "method" must be a non-empty string');
    }
    const params = v.params;
    if (params !== undefined && !isObject(params)) {
      throw new GatewayError("INVALID_REQUEST", 'member "params" must be an object');
    }
    const method = v.method;
    return {
      kind: hasId ? "request" : "notification",
      id: hasId ? (id as JsonRpcId) : undefined,
      method,
      target: targetOf(method, params),
      arguments: method === "tools/call" || method === "prompts/get" ? (params as JsonObject | undefined)?.arguments : undefined,
      raw: v,
    };
  }
  // A response: exactly one of result / error, and an id (null id allowed only on errors).
  const hasResult = "result" in v;
  const hasError = "error" in v;
  if (hasResult === hasError) {
    throw new GatewayError("INVALID_REQUEST", 'a message needs "method", or exactly one of "result" and "error"');
  }
  if (hasError && !isObject(v.error)) throw new GatewayError("INVALID_REQUEST", 'member "error" must be an object');
  if (!hasId && !(hasError && id === null)) throw new GatewayError("INVALID_REQUEST", 'a response needs an "id"');
  return {
    kind: "response",
    id: hasId ? (id as JsonRpcId) : undefined,
    method: undefined,
    target: undefined,
    arguments: undefined,
    raw: v,
  };
}

export interface ParsedBody {
  readonly messages: RpcMessage[];
  readonly batch: boolean;
}

/** Parse a request body: one message or (2025-03-26 only, checked by the caller) an array. */
export function parseBody(text: string): ParsedBody {
  const problem = checkJsonText(text, MAX_JSON_DEPTH);
  if (problem?.kind === "too-deep") throw new GatewayError("NESTING_TOO_DEEP", `more than ${MAX_JSON_DEPTH} levels`);
  // The body is relayed as sent: a name given twice would be read one way here and maybe another upstream.
  if (problem) throw new GatewayError("DUPLICATE_MEMBER", `member ${JSON.stringify(problem.name.slice(0, 64))} occurs twice in one object`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatewayError("PARSE_ERROR");
  }
  if (Array.isArray(v)) {
    if (v.length === 0) throw new GatewayError("EMPTY_BATCH");
    return { messages: v.map(toMessage), batch: true };
  }
  return { messages: [toMessage(v)], batch: false };
}

export function errorResponse(id: JsonRpcId | null | undefined, error: { code: number; message: string; data?: unknown }): JsonObject {
  return { jsonrpc: "2.0", id: id ?? null, error };
}

/** `_meta` of a request/notification, if any. */
export function metaOf(raw: JsonObject): JsonObject | undefined {
  const params = raw.params;
  if (!isObject(params)) return undefined;
  const meta = params._meta;
  return isObject(meta) ? meta : undefined;
}

export { isObject };
