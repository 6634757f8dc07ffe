// The gateway's published diagnostics contract (`@mcp-edge/gateway/diagnostics`): everything a telemetry
// subscriber may rely on. The OpenTelemetry part (src/otel/) imports this module only, never internals.

export type { Exchange } from "./chain/types.ts";
export type { RpcMessage } from "./codec/jsonrpc.ts";
export type { TelemetryConfig, TelemetryConfigInput } from "./config/schema-telemetry.ts";
export { telemetrySchema } from "./config/schema-telemetry.ts";
export {
  channels,
  type ErrorEvent,
  type MessageEvent,
  type SessionEvent,
  type StageEvent,
  type UpstreamEvent,
} from "./diagnostics.ts";
export { ERRORS } from "./errors.ts";
export type { Logger } from "./log/logger.ts";
export { errorTypeOf, hashSessionId, metaOf, rpcErrorOf, STATELESS_ERA } from "./log/message-facts.ts";
export { compileRedactor, isSensitiveKey, type PayloadRedactor, REDACTED, redactString } from "./log/redact.ts";
