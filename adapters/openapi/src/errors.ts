// Every error the OpenAPI adapter reports: at start (the document or options are refused) or in a
// tool result with isError (a call that failed). README.md's error table is checked against this list.

export const ADAPTER_ERRORS = {
  OPENAPI_LOAD_FAILED: { when: "start", text: "the document could not be read (file missing, URL unreachable, not JSON or YAML)" },
  OPENAPI_NOT_OPENAPI: {
    when: "start",
    text: "the document is not OpenAPI 3.0 / 3.1 or Swagger 2.0 (no `openapi`/`swagger` field, or another version)",
  },
  OPENAPI_INVALID: { when: "start", text: "the document does not conform to the OpenAPI specification (the first errors are listed)" },
  OPENAPI_BROKEN_REF: { when: "start", text: "a `$ref` points at nothing (the operation and the reference are named)" },
  OPENAPI_NAME_COLLISION: { when: "start", text: "two operations give the same tool name; set `toolNames` for one of them" },
  OPENAPI_NO_TOOLS: { when: "start", text: "the selection (include/exclude, read-only mode) leaves no operation" },
  OPENAPI_BAD_OPTIONS: { when: "start", text: "an adapter option is invalid (the option is named)" },
  OPENAPI_SECURITY_UNSATISFIED: {
    when: "start",
    text: "with `strictSecurity`, a security scheme that operations need has no configured source",
  },
  INVALID_ARGUMENTS: { when: "call", text: "the arguments do not match the tool's inputSchema; nothing was sent" },
  CREDENTIALS_MISSING: {
    when: "call",
    text: "no security requirement of the operation is satisfied by what was injected; nothing was sent",
  },
  HTTP_CLIENT_ERROR: { when: "call", text: "the API answered 4xx (status and a summary of the body)" },
  HTTP_SERVER_ERROR: { when: "call", text: "the API answered 5xx, after the retries an idempotent operation gets" },
  TIMEOUT: { when: "call", text: "the API did not answer within `timeoutMs`" },
  CONNECTION_FAILED: { when: "call", text: "the API could not be reached" },
  RESPONSE_TOO_LARGE: { when: "call", text: "a JSON answer of a tool with an outputSchema is larger than `maxResponseBytes`" },
  SCHEMA_UNCOMPILABLE: {
    when: "call",
    text: "the tool's schema cannot be compiled by ajv (e.g. a `pattern` that is not an ECMAScript regex); nothing was sent",
  },
  OUTPUT_MISMATCH: { when: "call", text: "the API's JSON answer does not match the response schema the document declares" },
} as const;

export type AdapterErrorCode = keyof typeof ADAPTER_ERRORS;

/** A start-up failure: the message names the code, then what was wrong and where. */
export class AdapterError extends Error {
  readonly code: AdapterErrorCode;
  constructor(code: AdapterErrorCode, detail: string) {
    super(`${code}: ${detail}`);
    this.code = code;
    this.name = "AdapterError";
  }
}
