// The production span export path: span records encoded to OTLP/JSON as they are handed over, into the
// request body of the batch being filled, and sent through the SDK's OTLP/HTTP transport (retries, timeout,
// compression, headers, the OTEL_EXPORTER_OTLP_* variables) from @opentelemetry/otlp-exporter-base.
//
// Bounded: at most `maxQueueSize` spans wait to be sent (encoded or not) and `maxConcurrentExports`
// requests are in flight; beyond that new spans are dropped and counted, with one warning per episode.
// See docs/design/telemetry-export.md for the measurements behind the design.

import type { ExportResult } from "@opentelemetry/core";
import type { IOtlpExportDelegate } from "@opentelemetry/otlp-exporter-base";
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from "@opentelemetry/otlp-exporter-base/node-http";
import type { SpanJsonEncoder } from "./otlp-json.ts";
import type { SpanRecord, SpanSink } from "./recorder.ts";

/** One request's worth of encoded spans. */
export interface EncodedBatch {
  readonly body: Uint8Array;
  readonly count: number;
}

export type DropReason = "queue_full" | "export_failed";

export interface DropReport {
  /** Spans dropped now. */
  count: number;
  reason: DropReason;
  /** The export error (export_failed). */
  error?: Error | undefined;
}

export interface SpanQueueOptions {
  encoder: SpanJsonEncoder;
  delegate: IOtlpExportDelegate<EncodedBatch>;
  /** Spans waiting to be sent, encoded or not (OTEL_BSP_MAX_QUEUE_SIZE, default 2048). */
  maxQueueSize?: number | undefined;
  /** Spans per request (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512). */
  maxExportBatchSize?: number | undefined;
  /** Longest a partial batch waits before it is sent (OTEL_BSP_SCHEDULE_DELAY, default 5000 ms). */
  scheduledDelayMillis?: number | undefined;
  /** Requests in flight at once (default 2). */
  maxConcurrentExports?: number | undefined;
  /** Called for every drop (the metric); the queue itself logs one warning per episode through `warn`. */
  onDrop?: ((d: DropReport) => void) | undefined;
  warn?: ((message: string) => void) | undefined;
  /** The end of an episode (how many were dropped) is an info line. */
  info?: ((message: string) => void) | undefined;
  /** Quiet time after the last drop that ends an episode (default 10 s). */
  episodeQuietMs?: number | undefined;
}

const SERIALIZER: Parameters<typeof createOtlpHttpExportDelegate<EncodedBatch, unknown>>[1] = {
  serializeRequest: (b) => b.body,
  // ExportTraceServiceResponse (partial success) as JSON; the delegate logs a partial success itself.
  deserializeResponse: (data) =>
    data.length === 0 ? {} : JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8")),
};

/** The SDK's OTLP/HTTP transport with a serializer that hands over the already encoded body. */
export function createJsonSpanDelegate(config: {
  url?: string | undefined;
  headers?: Record<string, string> | undefined;
  timeoutMillis?: number | undefined;
}): IOtlpExportDelegate<EncodedBatch> {
  const opts = convertLegacyHttpOptions(
    { url: config.url, headers: config.headers, timeoutMillis: config.timeoutMillis },
    "TRACES",
    "v1/traces",
    { "Content-Type": "application/json" },
  );
  return createOtlpHttpExportDelegate(
    opts,
    SERIALIZER,
    "otlp_http_json_span_exporter",
    { name: "span", countItems: (b) => b.count },
    undefined,
  );
}

const MIN_BUFFER = 16 * 1024;

export class OtlpSpanQueue implements SpanSink {
  readonly #enc: SpanJsonEncoder;
  readonly #delegate: IOtlpExportDelegate<EncodedBatch>;
  readonly #maxQueue: number;
  readonly #batchSize: number;
  readonly #delay: number;
  readonly #maxInFlight: number;
  readonly #onDrop: ((d: DropReport) => void) | undefined;
  readonly #warn: (message: string) => void;
  readonly #info: (message: string) => void;
  readonly #quietMs: number;
  // The batch being filled: its request body so far.
  #buf: Buffer | undefined;
  #off = 0;
  #count = 0;
  #nextCap = MIN_BUFFER;
  /** Full batches waiting for a free request slot. */
  readonly #sealed: EncodedBatch[] = [];
  #sealedSpans = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];
  #episode: { dropped: number; since: number; last: number; reasons: Set<DropReason> } | undefined;
  #stopped = false;
  /** Totals since start (tests, diagnostics). */
  readonly stats = { encoded: 0, exported: 0, requests: 0, droppedQueueFull: 0, droppedExportFailed: 0 };

  constructor(o: SpanQueueOptions) {
    this.#enc = o.encoder;
    this.#delegate = o.delegate;
    this.#maxQueue = Math.max(1, o.maxQueueSize ?? 2048);
    this.#batchSize = Math.max(1, Math.min(o.maxExportBatchSize ?? 512, this.#maxQueue));
    this.#delay = o.scheduledDelayMillis ?? 5000;
    this.#maxInFlight = Math.max(1, o.maxConcurrentExports ?? 2);
    this.#onDrop = o.onDrop;
    this.#warn = o.warn ?? (() => {});
    this.#info = o.info ?? this.#warn;
    this.#quietMs = o.episodeQuietMs ?? 10_000;
  }

  /** Spans accepted and not yet handed to the transport. */
  get queued(): number {
    return this.#count + this.#sealedSpans;
  }

  /** Room for `n` more spans? The Recorder asks before it keeps a record, so a full queue costs no encoding. */
  hasRoom(n = 1): boolean {
    return this.queued + n <= this.#maxQueue;
  }

  take(r: SpanRecord): void {
    if (this.#stopped) return;
    if (!this.hasRoom()) {
      this.drop(1, "queue_full");
      return;
    }
    const json = this.#enc.encode(r);
    // UTF-8 is at most 3 bytes per UTF-16 unit; the suffix and a comma fit in the slack.
    const need = json.length * 3 + 16;
    let buf = this.#buf;
    if (buf === undefined) {
      this.#enc.resync();
      const prefix = this.#enc.prefix;
      buf = Buffer.allocUnsafe(Math.max(this.#nextCap, prefix.length * 3 + need));
      this.#off = buf.write(prefix, 0, "utf8");
      this.#buf = buf;
    } else if (this.#off + need > buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, this.#off + need));
      buf.copy(grown, 0, 0, this.#off);
      buf = grown;
      this.#buf = buf;
    }
    if (this.#count > 0) buf[this.#off++] = 0x2c; // ","
    this.#off += buf.write(json, this.#off, "utf8");
    this.#count++;
    this.stats.encoded++;
    if (this.#count >= this.#batchSize) {
      this.#seal();
      this.#pump();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#seal();
        this.#pump();
      }, this.#delay);
      this.#timer.unref();
    }
  }

  /** Count dropped spans (also those the Recorder dropped before they reached the queue). */
  drop(count: number, reason: DropReason, error?: Error): void {
    if (count <= 0) return;
    if (reason === "queue_full") this.stats.droppedQueueFull += count;
    else this.stats.droppedExportFailed += count;
    this.#onDrop?.({ count, reason, error });
    const now = Date.now();
    const ep = this.#episode;
    if (ep && now - ep.last < this.#quietMs) {
      ep.dropped += count;
      ep.last = now;
      ep.reasons.add(reason);
      return;
    }
    if (ep) this.#endEpisode();
    this.#episode = { dropped: count, since: now, last: now, reasons: new Set([reason]) };
    this.#warn(
      reason === "queue_full"
        ? `dropping spans: the export queue is full (${this.#maxQueue} spans waiting, ${this.#inFlight} requests in flight); the collector or this process cannot keep up`
        : `dropping spans: an OTLP export failed (${error?.message ?? "unknown error"})`,
    );
  }

  #endEpisode(): void {
    const ep = this.#episode;
    if (!ep) return;
    this.#episode = undefined;
    this.#info(
      `stopped dropping spans: ${ep.dropped} dropped (${[...ep.reasons].join(", ")}) from ${new Date(ep.since).toISOString()} to ${new Date(ep.last).toISOString()}`,
    );
  }

  #seal(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const buf = this.#buf;
    if (buf === undefined || this.#count === 0) return;
    this.#off += buf.write(this.#enc.suffix, this.#off, "utf8");
    this.#sealed.push({ body: buf.subarray(0, this.#off), count: this.#count });
    this.#sealedSpans += this.#count;
    // The next batch starts at about this one's size: no regrowth in steady state.
    this.#nextCap = Math.max(MIN_BUFFER, this.#off + 1024);
    this.#buf = undefined;
    this.#off = 0;
    this.#count = 0;
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#sealed.length > 0) {
      const batch = this.#sealed.shift()!;
      this.#sealedSpans -= batch.count;
      this.#inFlight++;
      this.stats.requests++;
      this.#delegate.export(batch, (res: ExportResult) => this.#done(batch, res));
    }
    if (this.#inFlight === 0 && this.#sealed.length === 0 && this.#count === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  #done(batch: EncodedBatch, res: ExportResult): void {
    this.#inFlight--;
    if (res.code === 0) {
      this.stats.exported += batch.count;
      const ep = this.#episode;
      if (ep && Date.now() - ep.last >= this.#quietMs) this.#endEpisode();
    } else {
      this.drop(batch.count, "export_failed", res.error);
    }
    this.#pump();
  }

  /** Send everything accepted so far and wait for the requests to finish. */
  async forceFlush(): Promise<void> {
    this.#seal();
    const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#pump();
    await idle;
    await this.#delegate.forceFlush();
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    await this.forceFlush();
    this.#stopped = true;
    this.#endEpisode();
    await this.#delegate.shutdown();
  }
}
