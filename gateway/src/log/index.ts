// Public surface of the gateway's logging and audit: the structured ECS logger, the audit sink and its
// diagnostics subscriber, and the redaction helpers otel/ reuses. Nothing here imports OpenTelemetry.

export { type AuditOptions, type AuditRecord, type AuditSink, type AuditSinkOptions, createAuditSink, startAudit } from "./audit.ts";
export { type AuditConfig, auditSchema } from "./audit-schema.ts";
export {
  createLogger,
  ECS_VERSION,
  errorAsEcs,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  silentLogger,
} from "./logger.ts";
export { errorTypeOf, hashSessionId, parseTraceparent, traceOf } from "./message-facts.ts";
export { compileRedactor, looksLikeToken, REDACTED, redactString, safeStringify } from "./redact.ts";
