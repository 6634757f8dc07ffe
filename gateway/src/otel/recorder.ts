// Spans and metric points are decided and filled in on the request path, but handed to the
// OpenTelemetry SDK afterwards, in batches, off that path.
//
// Why: measured through the relay at one connection, the SDK calls made while a request was in flight
// (startSpan, setAttribute, end, Histogram.record) cost ≈ 36 µs per message although they take ≈ 9 µs in
// a tight loop: interleaved with HTTP parsing and socket writes they run with cold caches. Now the
// request path only assigns ids, asks the sampler and fills a plain record; a setImmediate after the
// request's events (or a full queue) feeds the records to the SDK, which creates the same spans with the
// same ids, times, parents, attributes, events and status (the SDK's id generator is preset per span),
// and the BatchSpanProcessor and exporters run as before. Span processors therefore see a span when
// the batch is fed, not while it is open (onStart and onEnd come together).

import { randomFillSync } from "node:crypto";
import {
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Link,
  ROOT_CONTEXT,
  SamplingDecision,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  TraceFlags,
  type Tracer,
  trace,
  type UpDownCounter,
} from "@opentelemetry/api";
import type { IdGenerator, Sampler } from "@opentelemetry/sdk-trace";

export interface SpanRecord {
  readonly name: string;
  readonly kind: SpanKind;
  /** This span's context: the ids it will have (traceFlags sampled). */
  readonly sc: SpanContext;
  /** Parent span context (remote or the gateway's own), none for a root span. */
  readonly parent: SpanContext | undefined;
  readonly start: number;
  end: number;
  readonly attributes: Attributes;
  readonly links: Link[] | undefined;
  status: SpanStatus | undefined;
  events: Array<{ name: string; attributes: Attributes; time: number }> | undefined;
  /** Set once the record is queued: later changes are not taken (like attributes on an ended span). */
  ended: boolean;
}

type MetricPoint =
  | { readonly i: Histogram; readonly v: number; readonly a: Attributes; readonly add: false }
  | { readonly i: Counter | UpDownCounter; readonly v: number; readonly a: Attributes; readonly add: true };

// Random ids from a pooled buffer (one randomFillSync per 512 span ids).
const POOL = 4096;
const pool = Buffer.allocUnsafe(POOL);
let poolOff = POOL;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolOff + bytes > POOL) {
      randomFillSync(pool);
      poolOff = 0;
    }
    let zero = true;
    for (let i = poolOff; i < poolOff + bytes; i++) {
      if (pool[i] !== 0) {
        zero = false;
        break;
      }
    }
    const s = pool.toString("hex", poolOff, poolOff + bytes);
    poolOff += bytes;
    if (!zero) return s; // all-zero ids are invalid (W3C Trace Context §3.2.2.3, §3.2.2.4)
  }
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/**
 * The TracerProvider's id generator: returns the ids preset for the span being fed, so the SDK's span
 * has the ids that were already propagated upstream. Random ids when nothing is preset.
 */
export class PresetIdGenerator implements IdGenerator {
  traceId: string | undefined;
  spanId: string | undefined;
  generateTraceId(): string {
    const id = this.traceId ?? newTraceId();
    this.traceId = undefined;
    return id;
  }
  generateSpanId(): string {
    const id = this.spanId ?? newSpanId();
    this.spanId = undefined;
    return id;
  }
}

/** Queue length at which the batch is fed at once rather than on the next setImmediate. */
const MAX_QUEUED = 2048;

export class Recorder {
  readonly #tracer: Tracer;
  readonly #sampler: Sampler;
  readonly #ids: PresetIdGenerator;
  #spans: SpanRecord[] = [];
  #points: MetricPoint[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  readonly #flush = () => this.flush();

  constructor(tracer: Tracer, sampler: Sampler, ids: PresetIdGenerator) {
    this.#tracer = tracer;
    this.#sampler = sampler;
    this.#ids = ids;
  }

  /**
   * The context of a new span, sampled as the SDK will sample it when the record is fed: the same sampler
   * with the same parent, trace id, name and kind. A child of a local span inherits its decision (what
   * every sampler the gateway builds does: parent-based, or a ratio of the same trace id).
   */
  context(parent: SpanContext | undefined, parentCtx: Context | undefined, name: string, kind: SpanKind, local: boolean): SpanContext {
    const traceId = parent?.traceId ?? newTraceId();
    let sampled: boolean;
    if (local && parent) sampled = (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
    else {
      const ctx = parentCtx ?? (parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT);
      sampled = this.#sampler.shouldSample(ctx, traceId, name, kind, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
    }
    return {
      traceId,
      spanId: newSpanId(),
      traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      traceState: parent?.traceState,
      isRemote: false,
    };
  }

  /** Queue a finished span record. */
  end(r: SpanRecord, end: number): void {
    if (r.ended) return;
    r.end = end;
    r.ended = true;
    this.#spans.push(r);
    this.#schedule();
  }

  record(i: Histogram, v: number, a: Attributes): void {
    this.#points.push({ i, v, a, add: false });
    this.#schedule();
  }

  add(i: Counter | UpDownCounter, v: number, a: Attributes): void {
    this.#points.push({ i, v, a, add: true });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#spans.length + this.#points.length >= MAX_QUEUED) this.flush();
    else this.#scheduled ??= setImmediate(this.#flush);
  }

  /** Feed everything queued to the SDK now. */
  flush(): void {
    if (this.#scheduled) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    const spans = this.#spans;
    const points = this.#points;
    this.#spans = [];
    this.#points = [];
    const ids = this.#ids;
    let parent: SpanContext | undefined;
    let parentCtx: Context = ROOT_CONTEXT;
    for (const r of spans) {
      if (r.parent !== parent) {
        parent = r.parent;
        parentCtx = parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
      }
      ids.traceId = r.sc.traceId;
      ids.spanId = r.sc.spanId;
      // Attributes after the start: startSpan cleans `attributes` twice (for the sampler, then for the
      // span); setAttributes checks each once. The gateway's samplers do not look at attributes.
      const span = this.#tracer.startSpan(r.name, { kind: r.kind, startTime: r.start, links: r.links }, parentCtx);
      ids.traceId = undefined;
      ids.spanId = undefined;
      span.setAttributes(r.attributes);
      if (r.events) for (const e of r.events) span.addEvent(e.name, e.attributes, e.time);
      if (r.status) span.setStatus(r.status);
      span.end(r.end);
    }
    for (const p of points) {
      if (p.add) p.i.add(p.v, p.a);
      else p.i.record(p.v, p.a);
    }
  }
}
