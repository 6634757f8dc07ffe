// OpenTelemetry for the MCP edge gateway (`@mcp-edge/gateway/otel`): subscribes to the diagnostics channels.
// It imports only the published diagnostics contract; the core loads it lazily, only when telemetry is enabled.

export { type TelemetryConfig, type TelemetryConfigInput, telemetrySchema } from "../diagnostics-contract.ts";
export * as attributes from "./attributes.ts";
export { buildSampler, type SamplerSettings } from "./sampler.ts";
export { INSTRUMENTATION_SCOPE, startTelemetry, type Telemetry, type TelemetryOptions } from "./telemetry.ts";
