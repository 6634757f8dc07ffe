// Spans and metric points are decided and filled in on the request path, but handed on afterwards, in
// bounded slices per event-loop turn, off that path.
//
// Why: measured through the relay at one connection, the SDK calls made while a request was in flight
// (startSpan, setAttribute, end, Histogram.record) cost ≈ 36 µs per message although they take ≈ 9 µs in
// a tight loop: interleaved with HTTP parsing and socket writes they run with cold caches. Now the
// request path only assigns ids, asks the sampler and fills a plain record; a setImmediate after the
// request's events hands the records to the span sinks — the OTLP/JSON queue (span-export.ts), or the
// SDK when span processors of one's own are configured (sdkSpanSink) — and records the metric points.
// At most `perTurn` records per turn, so a burst never becomes one long task; a queue at its bound drops
// new records (counted) instead of working on the request path.

import { randomFillSync } from "node:crypto";
import {
  type Attributes,
  type Context,
  type Counter,
  diag,
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

/**
 * Where finished span records go: the OTLP/JSON queue (span-export.ts), or the SDK (sdkSpanSink) when the
 * user configured span processors or an exporter of their own.
 */
export interface SpanSink {
  take(r: SpanRecord): void;
  /** Records the Recorder dropped before they reached the sink (its queue was at its bound). */
  drop?(count: number, reason: "queue_full"): void;
}

/**
 * Feeds records to an SDK tracer: the SDK creates the same spans with the same ids, times, parents,
 * attributes, events and status (its id generator is preset per span); its span processors see each span
 * when the batch is fed, start and end together.
 */
export function sdkSpanSink(tracer: Tracer, ids: PresetIdGenerator): SpanSink {
  let parent: SpanContext | undefined;
  let parentCtx: Context = ROOT_CONTEXT;
  return {
    take(r: SpanRecord): void {
      if (r.parent !== parent) {
        parent = r.parent;
        parentCtx = parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
      }
      ids.traceId = r.sc.traceId;
      ids.spanId = r.sc.spanId;
      // Attributes after the start: startSpan cleans `attributes` twice (for the sampler, then for the
      // span); setAttributes checks each once. The gateway's samplers do not look at attributes.
      const span = tracer.startSpan(r.name, { kind: r.kind, startTime: r.start, links: r.links }, parentCtx);
      ids.traceId = undefined;
      ids.spanId = undefined;
      span.setAttributes(r.attributes);
      if (r.events) for (const e of r.events) span.addEvent(e.name, e.attributes, e.time);
      if (r.status) span.setStatus(r.status);
      span.end(r.end);
    },
  };
}

export interface RecorderOptions {
  /**
   * Span records kept waiting for the next turn; beyond this they are dropped and counted (default 4096:
   * far more than a turn produces; reached only when the turns cannot keep up at all).
   */
  maxQueued?: number | undefined;
  /**
   * Work per event-loop turn: records are handed over until none is left, or until at least `perTurn`
   * (default 512) were and `turnBudgetMs` (default 2 ms) has passed; the rest wait for the next turn.
   * The steady flow (what the turn's requests produced) fits well inside; a burst is spread over turns.
   */
  perTurn?: number | undefined;
  turnBudgetMs?: number | undefined;
}

export class Recorder {
  readonly #sampler: Sampler;
  readonly #sinks: SpanSink[];
  readonly #maxQueued: number;
  readonly #perTurn: number;
  readonly #budgetMs: number;
  #spans: SpanRecord[] = [];
  /** Index of the first record of #spans not yet handed over (records are taken in order, across turns). */
  #head = 0;
  #points: MetricPoint[] = [];
  readonly #sums = new Map<Counter | UpDownCounter, Map<Attributes, number>>();
  #scheduled: NodeJS.Immediate | undefined;
  readonly #turn = () => this.#run(false);

  constructor(sampler: Sampler, sinks: SpanSink[], o: RecorderOptions = {}) {
    this.#sampler = sampler;
    this.#sinks = sinks;
    this.#maxQueued = Math.max(1, o.maxQueued ?? 4096);
    this.#perTurn = Math.max(1, o.perTurn ?? 512);
    this.#budgetMs = o.turnBudgetMs ?? 2;
  }

  /** Whether spans go anywhere: with no sink the subscriber still propagates context but records nothing. */
  get tracing(): boolean {
    return this.#sinks.length > 0;
  }

  /**
   * The context of a new span, sampled as the SDK would sample it: the same sampler with the same parent,
   * trace id, name and kind. A child of a local span inherits its decision (what every sampler the
   * gateway builds does: parent-based, or a ratio of the same trace id).
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

  /** Queue a finished span record (dropped and counted when the queue is at its bound: never work on the request path). */
  end(r: SpanRecord, end: number): void {
    if (r.ended) return;
    r.end = end;
    r.ended = true;
    if (this.#sinks.length === 0) return;
    if (this.#spans.length - this.#head >= this.#maxQueued) {
      for (const s of this.#sinks) s.drop?.(1, "queue_full");
      return;
    }
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
    this.#scheduled ??= setImmediate(this.#turn);
  }

  /** Hand everything queued to the sinks and the SDK now (forceFlush, shutdown, a /metrics scrape). */
  flush(): void {
    this.#run(true);
  }

  #faulted = false;
  #fault(e: unknown): void {
    if (this.#faulted) return;
    this.#faulted = true; // once: a broken sink would otherwise log per span
    diag.error("telemetry: a span or metric point could not be handed over (further faults are not logged)", e);
  }

  #hand(spans: SpanRecord[], from: number, to: number): void {
    const sinks = this.#sinks;
    for (let i = from; i < to; i++) {
      const r = spans[i]!;
      for (const s of sinks) {
        // A telemetry fault loses that span, not the process (this runs from setImmediate: a throw would be uncaught).
        try {
          s.take(r);
        } catch (e) {
          this.#fault(e);
        }
      }
    }
  }

  /** One turn's work: every metric point, and span records within the turn's budget (all of them with `all`). */
  #run(all: boolean): void {
    if (this.#scheduled) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    const points = this.#points;
    this.#points = [];
    try {
      // Counter points of one instrument and one (interned) attribute set are summed: one add() per set
      // per turn instead of one per event, with the same total. Histogram points are recorded one by one.
      const sums = this.#sums;
      for (const p of points) {
        if (!p.add) p.i.record(p.v, p.a);
        else {
          let per = sums.get(p.i);
          if (per === undefined) {
            per = new Map();
            sums.set(p.i, per);
          }
          per.set(p.a, (per.get(p.a) ?? 0) + p.v);
        }
      }
      for (const [i, per] of sums) {
        for (const [a, v] of per) i.add(v, a);
        per.clear();
      }
    } catch (e) {
      this.#fault(e);
    }
    const spans = this.#spans;
    let stop = spans.length;
    if (!all && stop - this.#head > this.#perTurn) {
      // Over the minimum: keep going in slices of 64 while within the time budget.
      const t0 = performance.now();
      let i = this.#head + this.#perTurn;
      this.#hand(spans, this.#head, i);
      while (i < stop && performance.now() - t0 < this.#budgetMs) {
        const j = Math.min(stop, i + 64);
        this.#hand(spans, i, j);
        i = j;
      }
      stop = i;
    } else this.#hand(spans, this.#head, stop);
    if (stop >= spans.length) {
      this.#spans = [];
      this.#head = 0;
    } else {
      this.#head = stop;
      // Compact now and then so handed-over records can be collected.
      if (this.#head >= 1024) {
        this.#spans = spans.slice(this.#head);
        this.#head = 0;
      }
      this.#schedule();
    }
  }
}
