// startTelemetry(): builds private tracer and meter providers (OTLP/HTTP, Prometheus) and subscribes
// them to the gateway's diagnostics channels. Nothing is registered globally; shutdown() undoes it all.

import type { IncomingMessage, ServerResponse } from "node:http";
import { type DiagLogger, DiagLogLevel, diag } from "@opentelemetry/api";
import { OTLPMetricExporter as OTLPJsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as OTLPProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter as OTLPProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, detectResources, envDetector, type Resource, resourceFromAttributes } from "@opentelemetry/resources";
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor, type SpanExporter, type SpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { type Logger, type TelemetryConfig, type TelemetryConfigInput, telemetrySchema } from "../diagnostics-contract.ts";
import { ERROR_TYPE, M_DROPPED_SPANS } from "./attributes.ts";
import { createInstruments } from "./metrics.ts";
import { limitsFromEnv, SpanJsonEncoder } from "./otlp-json.ts";
import { PresetIdGenerator, Recorder, type SpanSink, sdkSpanSink } from "./recorder.ts";
import { buildSampler } from "./sampler.ts";
import { createJsonSpanDelegate, OtlpSpanQueue } from "./span-export.ts";
import { TelemetrySubscriber } from "./subscriber.ts";

export const INSTRUMENTATION_SCOPE = "@mcp-edge/otel";
const VERSION = "0.1.0";

export interface TelemetryOptions extends TelemetryConfigInput {
  /** Only this gateway's events (see Exchange.gatewayId); unset: every gateway in the process. */
  gatewayId?: string;
  /** Where SDK/exporter problems are reported (default: nowhere, like the SDK). */
  logger?: Logger;
  /** Extra span processors (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
  /** Replace the OTLP span exporter (tests). */
  spanExporter?: SpanExporter;
  /** Batch tuning (the OTLP/JSON queue, or the SDK's batch processor); OTEL_BSP_* variables are honoured when unset. */
  batch?: {
    scheduledDelayMillis?: number;
    maxExportBatchSize?: number;
    maxQueueSize?: number;
    exportTimeoutMillis?: number;
    /** OTLP/JSON requests in flight at once (default 2). */
    maxConcurrentExports?: number;
  };
}

export interface Telemetry {
  /** Flush spans and metrics, stop exporting and unsubscribe from the gateway's channels. */
  shutdown(): Promise<void>;
  /** Export everything buffered now (tests, graceful drain). */
  forceFlush(): Promise<void>;
  /** Prometheus text exposition for GET /metrics; present when prometheus.enabled. */
  metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  readonly config: TelemetryConfig;
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function envList(env: NodeJS.ProcessEnv, name: string): string[] {
  return (env[name] ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** default SDK attributes ← service.name "mcp-gateway" ← OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME ← config. */
function buildResource(cfg: TelemetryConfig): Resource {
  let r = defaultResource().merge(resourceFromAttributes({ "service.name": "mcp-gateway" }));
  r = r.merge(detectResources({ detectors: [envDetector] }));
  const fromConfig: Record<string, string> = { ...cfg.resourceAttributes };
  if (cfg.serviceName !== undefined) fromConfig["service.name"] = cfg.serviceName;
  return r.merge(resourceFromAttributes(fromConfig));
}

function otlpUrl(endpoint: string | undefined, signal: "traces" | "metrics"): string | undefined {
  return endpoint === undefined ? undefined : `${endpoint.replace(/\/+$/, "")}/v1/${signal}`;
}

type OtlpProtocol = "http/protobuf" | "http/json";

/**
 * OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL (OTLP exporter spec, "Specify
 * Protocol"). Unset stays http/json for now, not the spec's http/protobuf: the test receiver and the bench sink
 * speak JSON, and protobuf measured no cheaper to encode here (same wall time per message). grpc is not built in.
 */
function otlpProtocol(env: NodeJS.ProcessEnv, signal: "TRACES" | "METRICS"): OtlpProtocol {
  const v = (env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "").trim().toLowerCase();
  if (v === "" || v === "http/json") return "http/json";
  if (v !== "http/protobuf") diag.warn(`OTLP protocol ${JSON.stringify(v)} is not supported; using http/protobuf`);
  return "http/protobuf";
}

function diagAdapter(logger: Logger): DiagLogger {
  const f =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, ...args: unknown[]) =>
      logger[level](`opentelemetry: ${message}`, {
        "event.dataset": "mcp_gateway.telemetry",
        ...(args.length > 0 ? { "mcp_gateway.details": args.map((a) => (a instanceof Error ? a.message : a)) } : {}),
      });
  return { error: f("error"), warn: f("warn"), info: f("info"), debug: f("debug"), verbose: f("debug") };
}

/**
 * Start tracing and metrics for the gateway. The caller decides whether telemetry is on (config
 * `telemetry.enabled`); with OTEL_SDK_DISABLED=true this returns a no-op that subscribes to nothing.
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  const { logger, spanProcessors = [], spanExporter, batch, gatewayId, ...input } = options;
  // The exporters and resource detector read process.env themselves; read the rest from the same place.
  const env = process.env;
  const cfg = telemetrySchema.parse(input);
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") {
    return { shutdown: async () => {}, forceFlush: async () => {}, metricsHandler: undefined, config: cfg };
  }
  if (logger) diag.setLogger(diagAdapter(logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

  const resource = buildResource(cfg);
  const headers = Object.fromEntries(Object.entries(cfg.otlp.headers).map(([k, v]) => [k, v.reveal()]));

  // Traces. The OTLP/JSON path encodes the records itself (span-export.ts); the SDK's tracer, batch
  // processor and exporter are used only for protobuf, a replaced exporter or span processors of one's own.
  const processors: SpanProcessor[] = [...spanProcessors];
  const tracesOff = envList(env, "OTEL_TRACES_EXPORTER").includes("none");
  const otlpTraces = cfg.otlp.traces && !tracesOff;
  const bsp = {
    scheduledDelayMillis: batch?.scheduledDelayMillis ?? envNumber(env, "OTEL_BSP_SCHEDULE_DELAY"),
    maxExportBatchSize: batch?.maxExportBatchSize ?? envNumber(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
    maxQueueSize: batch?.maxQueueSize ?? envNumber(env, "OTEL_BSP_MAX_QUEUE_SIZE"),
    exportTimeoutMillis: batch?.exportTimeoutMillis ?? envNumber(env, "OTEL_BSP_EXPORT_TIMEOUT"),
  };
  const warn = (message: string) =>
    logger ? logger.warn(`telemetry: ${message}`, { "event.dataset": "mcp_gateway.telemetry" }) : diag.warn(message);
  const info = (message: string) =>
    logger ? logger.info(`telemetry: ${message}`, { "event.dataset": "mcp_gateway.telemetry" }) : diag.info(message);
  let queue: OtlpSpanQueue | undefined;
  if (!spanExporter && otlpTraces && otlpProtocol(env, "TRACES") === "http/json") {
    queue = new OtlpSpanQueue({
      encoder: new SpanJsonEncoder(resource, { name: INSTRUMENTATION_SCOPE, version: VERSION }, limitsFromEnv(env)),
      delegate: createJsonSpanDelegate({
        url: otlpUrl(cfg.otlp.endpoint, "traces"),
        headers,
        timeoutMillis: Math.min(cfg.otlp.timeoutMs, bsp.exportTimeoutMillis ?? Number.POSITIVE_INFINITY),
      }),
      ...bsp,
      maxConcurrentExports: batch?.maxConcurrentExports,
      warn,
      info,
    });
  } else if (spanExporter || otlpTraces) {
    const exporter =
      spanExporter ?? new OTLPProtoTraceExporter({ url: otlpUrl(cfg.otlp.endpoint, "traces"), headers, timeoutMillis: cfg.otlp.timeoutMs });
    processors.push(new BatchSpanProcessor({ exporter, ...bsp }));
  }
  const sampler = buildSampler(cfg.sampler, env);
  const ids = new PresetIdGenerator();
  const tracerProvider =
    processors.length > 0 ? new TracerProvider({ resource, sampler, idGenerator: ids, spanProcessors: processors }) : undefined;
  const sinks: SpanSink[] = [];
  if (queue) sinks.push(queue);
  if (tracerProvider) sinks.push(sdkSpanSink(tracerProvider.getTracer(INSTRUMENTATION_SCOPE, VERSION), ids));

  // Metrics.
  const readers: IMetricReader[] = [];
  const metricsOff = envList(env, "OTEL_METRICS_EXPORTER").includes("none");
  if (cfg.otlp.metrics && !metricsOff) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new (otlpProtocol(env, "METRICS") === "http/json" ? OTLPJsonMetricExporter : OTLPProtoMetricExporter)({
          url: otlpUrl(cfg.otlp.endpoint, "metrics"),
          headers,
          timeoutMillis: cfg.otlp.timeoutMs,
        }),
        exportIntervalMillis: envNumber(env, "OTEL_METRIC_EXPORT_INTERVAL") ?? cfg.otlp.metricsIntervalMs,
        exportTimeoutMillis: Math.min(cfg.otlp.timeoutMs, envNumber(env, "OTEL_METRIC_EXPORT_INTERVAL") ?? cfg.otlp.metricsIntervalMs),
      }),
    );
  }
  let prometheus: PrometheusExporter | undefined;
  if (cfg.prometheus.enabled) {
    // No server of its own: the gateway's listener serves it (one port to secure, one Host/Origin guard).
    prometheus = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
    readers.push(prometheus);
  }
  const meterProvider = readers.length > 0 ? new MeterProvider({ resource, readers }) : undefined;
  const meter = meterProvider?.getMeter(INSTRUMENTATION_SCOPE, VERSION);
  const instruments = meter ? createInstruments(meter) : undefined;
  if (meter && queue) {
    // Read at collection time from the queue's totals: nothing on the request path, even while dropping.
    const q = queue;
    meter
      .createObservableCounter(M_DROPPED_SPANS, {
        description: "Spans dropped before export, by error.type: queue_full (the export queue was at its bound) or export_failed.",
      })
      .addCallback((r) => {
        r.observe(q.stats.droppedQueueFull, { [ERROR_TYPE]: "queue_full" });
        r.observe(q.stats.droppedExportFailed, { [ERROR_TYPE]: "export_failed" });
      });
  }

  const recorder = new Recorder(sampler, sinks);
  const subscriber = new TelemetrySubscriber(recorder, instruments, {
    gatewayId,
    recordArguments: cfg.recordArguments,
    recordResults: cfg.recordResults,
    redact: cfg.redact,
    resourceUriInSpanName: cfg.resourceUriInSpanName,
    stageSpans: cfg.stageSpans,
  });
  subscriber.subscribe();

  let stopped: Promise<void> | undefined;
  return {
    config: cfg,
    metricsHandler: prometheus
      ? (req, res) => {
          recorder.flush(); // points of requests that just ended are in the scrape
          prometheus.getMetricsRequestHandler(req, res);
        }
      : undefined,
    async forceFlush() {
      recorder.flush();
      await Promise.all([queue?.forceFlush(), tracerProvider?.forceFlush(), meterProvider?.forceFlush()]);
    },
    shutdown() {
      stopped ??= (async () => {
        subscriber.unsubscribe();
        recorder.flush();
        await Promise.allSettled([queue?.shutdown(), tracerProvider?.shutdown(), meterProvider?.shutdown()]);
      })();
      return stopped;
    },
  };
}
