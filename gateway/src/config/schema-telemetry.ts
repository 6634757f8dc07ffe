// Config sub-schema `telemetry:` (tracing, metrics, audit). The lead plugs it into the main schema;
// it imports zod and the gateway's audit sub-schema only, never OpenTelemetry, so loading config stays cheap.

import { z } from "zod";
import { auditSchema, jsonPathSchema } from "../log/audit-schema.ts";
import { plain, Secret } from "./secret.ts";

// Same shape as `secret()` in gateway/src/config/schema.ts. Not imported from there: that file will import
// this one to plug `telemetry` in, and a module cycle would leave the helper undefined at load time.
const secretValue = () =>
  z
    .union([z.string(), z.instanceof(Secret)])
    .transform((v) => (v instanceof Secret ? v : new Secret(v)))
    .meta({ description: "Secret value; use ${env:NAME} or ${file:path} rather than a literal" });
const str = () => z.preprocess(plain, z.string());

export const samplerSchema = z
  .object({
    /** Fraction of new traces recorded (0…1). Unset: OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, else 1. */
    ratio: z.number().min(0).max(1).optional(),
    /** Follow the caller's sampled flag when a traceparent comes in (W3C Trace Context §3.2.2.5). */
    parentBased: z.boolean().default(true),
  })
  .strict();

export const telemetrySchema = z
  .object({
    enabled: z.boolean().default(false).describe("Spans and metrics via OpenTelemetry; when false otel/ is not loaded"),
    /** service.name resource attribute. Unset: OTEL_SERVICE_NAME, else "mcp-gateway". */
    serviceName: z.string().min(1).optional(),
    /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES is honoured too; these win). */
    resourceAttributes: z.record(z.string(), z.string()).default({}),
    sampler: samplerSchema.prefault({}),
    otlp: z
      .object({
        /** Base URL of an OTLP/HTTP receiver (…:4318); /v1/traces and /v1/metrics are appended. Unset: OTEL_EXPORTER_OTLP_* env. */
        endpoint: str()
          .pipe(z.url({ protocol: /^https?$/ }))
          .optional(),
        /** Headers for the receiver (e.g. an API key): secrets. OTEL_EXPORTER_OTLP_HEADERS is honoured too. */
        headers: z.record(z.string(), secretValue()).default({}),
        traces: z.boolean().default(true),
        metrics: z.boolean().default(true),
        /** Metric export interval (ms). */
        metricsIntervalMs: z.number().int().min(1000).default(60_000),
        timeoutMs: z.number().int().positive().default(10_000),
      })
      .strict()
      .prefault({}),
    prometheus: z
      .object({
        /** Serve the metrics in Prometheus text format: a handler the listener mounts at GET /metrics. */
        enabled: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** Opt-in span attributes gen_ai.tool.call.arguments / .result (redacted by `redact`). */
    recordArguments: z.boolean().default(false),
    recordResults: z.boolean().default(false),
    /** JSON paths hidden in recorded arguments/results on spans: "$.arguments.password", "$..token". */
    redact: z.array(jsonPathSchema).default([]),
    /** An INTERNAL span per filter stage call that reports attributes or refuses (authn, authz, credentials …). */
    stageSpans: z.boolean().default(true),
    /** Put resource URIs in span names (high cardinality; off per the MCP semantic conventions). */
    resourceUriInSpanName: z.boolean().default(false),
    audit: auditSchema.prefault({}),
  })
  .strict();

export type TelemetryConfig = z.output<typeof telemetrySchema>;
export type TelemetryConfigInput = z.input<typeof telemetrySchema>;
