// The trace sampler from config, else from the standard OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
// variables (OpenTelemetry SDK environment variable spec, "General SDK Configuration").

import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, type Sampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";

export interface SamplerSettings {
  ratio?: number | undefined;
  parentBased?: boolean | undefined;
}

function ratioSampler(r: number): Sampler {
  if (r >= 1) return new AlwaysOnSampler();
  if (r <= 0) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(r);
}

function envRatio(env: NodeJS.ProcessEnv): number {
  const arg = env.OTEL_TRACES_SAMPLER_ARG;
  const n = arg === undefined || arg.trim() === "" ? 1 : Number(arg);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : 1;
}

/** Config wins over environment; the default is parentbased_always_on, as in the SDK spec. */
export function buildSampler(s: SamplerSettings = {}, env: NodeJS.ProcessEnv = process.env): Sampler {
  if (s.ratio !== undefined) {
    const root = ratioSampler(s.ratio);
    return s.parentBased === false ? root : new ParentBasedSampler({ root });
  }
  switch ((env.OTEL_TRACES_SAMPLER ?? "").trim().toLowerCase()) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratioSampler(envRatio(env));
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratioSampler(envRatio(env)) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
