// Every error the gateway can produce: one code, one JSON-RPC code, one HTTP status.
// docs/errors.md documents this table; test/errors-doc.test.ts keeps the two in agreement.

export interface ErrorSpec {
  /** JSON-RPC error code carried in the `error.code` member. */
  readonly rpc: number;
  /** HTTP status used when the error is the whole HTTP reply (no JSON-RPC request to answer in-band). */
  readonly http: number;
  /** Short, stable description; also the default message. */
  readonly message: string;
}

// JSON-RPC 2.0 reserves -32768..-32000. MCP itself uses -32002 (resource not found),
// -32020 (header mismatch, 2026-07-28) and -32042 (URL elicitation). Gateway-specific codes
// live in -32050..-32099 so they never collide with a backend's own codes: the limits stage's refusals
// use -32050..-32059, the REST bridge and hardening -32060..-32069, tool governance (argument validation,
// pinned definitions, human approval: docs/governance.md; virtual servers: docs/virtual-servers.md) -32070..-32079, the rest -32080..-32099.
export const ERRORS = {
  PARSE_ERROR: { rpc: -32700, http: 400, message: "Body is not valid JSON" },
  INVALID_REQUEST: { rpc: -32600, http: 400, message: "Not a valid JSON-RPC 2.0 message" },
  BATCH_NOT_ALLOWED: { rpc: -32600, http: 400, message: "JSON-RPC batches are only allowed for protocol version 2025-03-26" },
  EMPTY_BATCH: { rpc: -32600, http: 400, message: "Empty JSON-RPC batch" },
  BODY_TOO_LARGE: { rpc: -32600, http: 413, message: "Request body exceeds the configured limit" },
  UNSUPPORTED_MEDIA_TYPE: { rpc: -32600, http: 415, message: "Content-Type must be application/json" },
  NOT_ACCEPTABLE: { rpc: -32600, http: 406, message: "Accept must list application/json and text/event-stream" },
  METHOD_NOT_ALLOWED: { rpc: -32600, http: 405, message: "HTTP method not allowed on this endpoint" },
  UNKNOWN_SERVER: { rpc: -32601, http: 404, message: "No MCP server is configured under this route" },
  NOT_FOUND: { rpc: -32601, http: 404, message: "Not found" },
  UNSUPPORTED_PROTOCOL_VERSION: { rpc: -32022, http: 400, message: "Unsupported MCP protocol version" },
  SESSION_REQUIRED: { rpc: -32600, http: 400, message: "Mcp-Session-Id header is required" },
  SESSION_NOT_FOUND: { rpc: -32001, http: 404, message: "Session not found, expired or ended; initialize a new session" },
  HEADER_MISMATCH: { rpc: -32020, http: 400, message: "Mcp-Method / Mcp-Name header does not match the body" },
  HOST_FORBIDDEN: { rpc: -32600, http: 403, message: "Host header not allowed" },
  ORIGIN_FORBIDDEN: { rpc: -32600, http: 403, message: "Origin not allowed" },
  UPSTREAM_UNAVAILABLE: { rpc: -32090, http: 502, message: "Backend MCP server is unreachable" },
  UPSTREAM_TIMEOUT: { rpc: -32091, http: 504, message: "Backend MCP server did not answer in time" },
  UPSTREAM_BAD_RESPONSE: { rpc: -32092, http: 502, message: "Backend MCP server answered something that is not MCP" },
  UPSTREAM_CLOSED: { rpc: -32093, http: 502, message: "Backend MCP server closed the connection or exited before answering" },
  UPSTREAM_HTTP_ERROR: { rpc: -32094, http: 502, message: "Backend MCP server answered with an HTTP error" },
  SHUTTING_DOWN: { rpc: -32095, http: 503, message: "Gateway is shutting down" },
  INTERNAL_ERROR: { rpc: -32603, http: 500, message: "Internal gateway error" },
  UNAUTHENTICATED: { rpc: -32081, http: 401, message: "Authentication required: send Authorization: Bearer <token>" },
  INVALID_TOKEN: { rpc: -32082, http: 401, message: "The access token or API key is invalid, expired or not meant for this server" },
  MALFORMED_AUTHORIZATION: { rpc: -32083, http: 400, message: "Malformed Authorization header" },
  INSUFFICIENT_SCOPE: { rpc: -32084, http: 403, message: "The access token lacks a scope this server requires" },
  MFA_REQUIRED: { rpc: -32085, http: 401, message: "This server requires a stronger (multi-factor) or more recent authentication" },
  TOKEN_IN_QUERY: { rpc: -32086, http: 400, message: "Access tokens are accepted only in the Authorization header, never in the URL" },
  IDP_UNAVAILABLE: { rpc: -32087, http: 503, message: "The identity provider could not be reached to verify the credential" },
  AUTHZ_DENIED: { rpc: -32080, http: 403, message: "Not authorized: this request is not permitted for the caller" },
  AUTHZ_UNAVAILABLE: {
    rpc: -32088,
    http: 503,
    message: "Authorization could not be decided (policy engine unavailable); the request was refused",
  },
  CREDENTIALS_UNAVAILABLE: {
    rpc: -32089,
    http: 503,
    message: "Backend credentials are unavailable: the secret store cannot be reached and no cached value is usable",
  },
  CREDENTIALS_MISSING: {
    rpc: -32096,
    http: 502,
    message: "Backend credentials are missing: the secret store has no usable credential for this backend",
  },
  CREDENTIALS_SUBJECT_REFUSED: { rpc: -32097, http: 403, message: "The caller's identity cannot select per-user backend credentials" },
  // Same code and words as the spec's own "not found" (tasks/get …): another user's task is indistinguishable from none.
  TASK_NOT_FOUND: { rpc: -32602, http: 404, message: "Failed to retrieve task: Task not found" },
  // REST bridge (gateway/src/bridge): problem+json answers for non-MCP clients.
  BRIDGE_UNKNOWN_TARGET: { rpc: -32602, http: 404, message: "No such tool, prompt or resource on this server" },
  BRIDGE_INVALID_ARGUMENTS: { rpc: -32602, http: 400, message: "The arguments do not match the tool's input schema" },
  BRIDGE_TOOL_ERROR: { rpc: -32060, http: 422, message: "The tool ran and reported an error (the result is in the body)" },
  BRIDGE_BACKEND_ERROR: { rpc: -32061, http: 502, message: "The backend MCP server answered with a JSON-RPC error" },
  BRIDGE_BAD_REQUEST: { rpc: -32600, http: 400, message: "The REST request is malformed (body, query or path)" },
  BACKEND_ERA_UNSUPPORTED: {
    rpc: -32098,
    http: 502,
    message: "The backend speaks no protocol era the gateway can relay this request to",
  },
  CROSS_ERA_UNMAPPABLE: {
    rpc: -32099,
    http: 502,
    message: "This message has no equivalent in the other protocol era and cannot be translated",
  },
  // Hardening (issue 11): refusals of hostile input, and the limits stage (-32050..-32059, all 429).
  INVALID_RESOURCE_URI: {
    rpc: -32602,
    http: 400,
    message: "The resource URI has no canonical form (control character, malformed or escaped separator, no scheme)",
  },
  DUPLICATE_REQUEST_ID: {
    rpc: -32600,
    http: 400,
    message: "A request id is used twice: within the batch, or by a request of this session still in flight",
  },
  BAD_ROUTE: { rpc: -32600, http: 400, message: "The route in the URL is not validly percent-encoded" },
  NESTING_TOO_DEEP: { rpc: -32600, http: 400, message: "The JSON body is nested deeper than the gateway accepts" },
  DUPLICATE_MEMBER: { rpc: -32600, http: 400, message: "The JSON body names a member twice in one object" },
  METHOD_NOT_IN_VERSION: { rpc: -32601, http: 400, message: "This method is not part of the protocol version in force" },
  BODY_TIMEOUT: { rpc: -32600, http: 408, message: "The request body did not arrive in time; the connection is closed" },
  RATE_LIMITED: { rpc: -32050, http: 429, message: "Rate limit reached for this caller, route or tool; retry after the delay given" },
  CONCURRENCY_LIMITED: { rpc: -32051, http: 429, message: "Too many requests in flight for this caller or route" },
  SESSION_LIMIT: { rpc: -32052, http: 429, message: "Too many open sessions for this caller" },
  STREAM_LIMIT: { rpc: -32053, http: 429, message: "Too many open streams for this caller or session" },
  CHILD_LIMIT: { rpc: -32054, http: 429, message: "Too many backend processes for this caller or route, and none is idle" },
  UPSTREAM_FRAME_TOO_LARGE: {
    rpc: -32064,
    http: 502,
    message: "Backend MCP server sent a message larger than the configured maximum; it was dropped and the stream ended",
  },
  STATE_STORE_UNAVAILABLE: {
    rpc: -32065,
    http: 503,
    message: "The shared state store (Redis) cannot be reached; the request was refused",
  },
  ARGUMENTS_INVALID: { rpc: -32602, http: 400, message: "Tool arguments do not match the tool's input schema" },
  ARGUMENTS_TOO_COMPLEX: { rpc: -32602, http: 400, message: "Tool arguments are nested too deeply or hold too many values" },
  TOOL_SCHEMA_UNKNOWN: {
    rpc: -32070,
    http: 409,
    message: "The gateway has not seen this tool's definition yet, so its arguments cannot be checked: list the tools first",
  },
  TOOL_SCHEMA_UNUSABLE: { rpc: -32071, http: 502, message: "The backend's input schema for this tool is not a usable JSON Schema" },
  TOOL_DEFINITION_CHANGED: {
    rpc: -32072,
    http: 409,
    message: "The backend changed this tool's definition since it was pinned; calls are refused until an operator approves the change",
  },
  APPROVAL_DECLINED: { rpc: -32073, http: 403, message: "The call needs the user's approval and the user did not approve it" },
  APPROVAL_TIMEOUT: { rpc: -32074, http: 408, message: "The call needs the user's approval and no answer came in time" },
  APPROVAL_UNSUPPORTED: { rpc: -32075, http: 400, message: "The call needs the user's approval and this client cannot be asked" },
  APPROVAL_BUSY: { rpc: -32076, http: 503, message: "Too many calls are waiting for approval; try again later" },
  VIRTUAL_BACKEND_UNAVAILABLE: {
    rpc: -32077,
    http: 502,
    message: "A server composed into this virtual server is down or unreachable; the other servers keep working",
  },
  VIRTUAL_UNKNOWN_NAME: {
    rpc: -32078,
    http: 404,
    message: "No server composed into this virtual server offers this tool, prompt or resource",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error the chain turns into a reply. `detail` is safe to show to the client (never a secret). */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly spec: ErrorSpec;
  readonly detail: string | undefined;
  /** Extra members of `error.data` (safe to show, e.g. the supported protocol versions). */
  data: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec: ErrorSpec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, options);
    this.name = "GatewayError";
    this.code = code;
    this.spec = spec;
    this.detail = detail;
  }
  /** The JSON-RPC error object for this error. */
  toRpcError(): { code: number; message: string; data: { gatewayCode: ErrorCode } & Record<string, unknown> } {
    return { code: this.spec.rpc, message: this.message, data: { ...this.data, gatewayCode: this.code } };
  }
  withData(data: Record<string, unknown>): this {
    this.data = data;
    return this;
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}
