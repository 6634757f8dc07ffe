// The OpenAPI adapter's programmatic API: build MCP tools from an OpenAPI document, or a whole server.
// Other adapters (GitHub, ServiceNow) reuse buildToolsFromDocument and createOpenApiServer.

export type { BodyPlan, BuiltTools, ParamPlan, RequestPlan, SkippedOperation, ToolDefinition } from "./build-tools.ts";
export { buildTools } from "./build-tools.ts";
export { type CallContext, callTool, retryAfterMs, Validators } from "./call-tool.ts";
export { ADAPTER_ERRORS, AdapterError, type AdapterErrorCode } from "./errors.ts";
export { type LoadedDocument, loadDocument } from "./load-document.ts";
export { MAX_TOOL_NAME, nameFromPath, sanitize, shorten, toolName } from "./names.ts";
export { type AdapterOptions, type AdapterOptionsInput, adapterOptionsSchema, parseOptions } from "./options.ts";
export { buildRequest } from "./request-build.ts";
export { type Json, type JsonObject, SchemaConverter } from "./schema-convert.ts";
export { credentialsFor, type SecuritySchemeReport } from "./security.ts";
export { baseUrlOf, buildToolsFromDocument, createOpenApiServer, OpenApiServer, type OpenApiServerConfig } from "./server.ts";
