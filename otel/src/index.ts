// @mcp-edge/otel: OpenTelemetry for the MCP edge gateway. Subscribes to the gateway's diagnostics
// channels; the gateway itself imports none of this (ARCHITECTURE.md invariant 6).

export * as attributes from "./attributes.ts";
export { buildSampler, type SamplerSettings } from "./sampler.ts";
export { type TelemetryConfig, type TelemetryConfigInput, telemetrySchema } from "./schema.ts";
export { INSTRUMENTATION_SCOPE, startTelemetry, type Telemetry, type TelemetryOptions } from "./telemetry.ts";
