// OTLP/JSON encoding of the gateway's span records (OTLP spec "JSON Protobuf Encoding"), written straight
// from the plain records the request path fills, with no SDK Span objects and no intermediate object graph.
//
// Why: feeding the SDK built a Span per record, then otlp-transformer built a second object tree per span
// and JSON.stringify walked it, 512 spans at a time on the main thread (≈ 10 % of the full pipeline's busy
// time, and a long task that showed in the tail). Here each record becomes one JSON fragment, written into
// the request buffer as it is encoded, so a batch costs nothing more when it is sent. The output is what
// the SDK's JsonTraceSerializer sends for the same span (ids hex, times as nanosecond strings, kind + 1,
// flags with the is-remote bits, attributes as AnyValue), checked field by field in otel/test/otlp-json.test.ts.

import type { Attributes, AttributeValue, Link, SpanContext } from "@opentelemetry/api";
import type { SpanRecord } from "./recorder.ts";

/** OTLP span flags (trace.proto SpanFlags): the W3C flags, plus "has is_remote" and "is_remote" of the parent. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

export interface EncoderLimits {
  /** Attributes kept per span, event and link (SDK span limits: OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, default 128). */
  attributeCount: number;
  /** Longer string values are cut (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, default none). */
  valueLength: number;
  /** Events and links kept per span (OTEL_SPAN_EVENT_COUNT_LIMIT / OTEL_SPAN_LINK_COUNT_LIMIT, default 128). */
  eventCount: number;
  linkCount: number;
}

export const DEFAULT_LIMITS: EncoderLimits = {
  attributeCount: 128,
  valueLength: Number.POSITIVE_INFINITY,
  eventCount: 128,
  linkCount: 128,
};

function envLimit(env: NodeJS.ProcessEnv, names: string[], dflt: number): number {
  for (const n of names) {
    const v = env[n];
    if (v === undefined || v.trim() === "") continue;
    const x = Number(v);
    if (Number.isInteger(x) && x >= 0) return x;
  }
  return dflt;
}

/** The SDK's span limits from the environment (SDK environment variable spec, "Span Limits"). */
export function limitsFromEnv(env: NodeJS.ProcessEnv): EncoderLimits {
  return {
    attributeCount: envLimit(env, ["OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"], 128),
    valueLength: envLimit(env, ["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"], Number.POSITIVE_INFINITY),
    eventCount: envLimit(env, ["OTEL_SPAN_EVENT_COUNT_LIMIT"], 128),
    linkCount: envLimit(env, ["OTEL_SPAN_LINK_COUNT_LIMIT"], 128),
  };
}

const q = JSON.stringify;

interface KeyEntry {
  readonly prefix: string;
  readonly strings: Map<string, string>;
}

/** Encoded string KeyValues kept per key: enough for routes, methods, tools, users of a busy gateway. */
const STRINGS_PER_KEY = 256;

/** proto3 JSON mapping of a double: finite numbers as numbers, the others as the strings the mapping names. */
function doubleJson(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

/**
 * Unix time in nanoseconds, as a decimal string (int64 in proto3 JSON), of a performance.now() time: the
 * process's time origin plus the monotonic offset, re-anchored to the wall clock (`resync`) when the two
 * have drifted apart by more than a few milliseconds (NTP slews; the SDK's Span corrects the same drift
 * with Date.now() per span, which moves by up to its 1 ms resolution between spans of one trace).
 */
export class Clock {
  #origin: number;
  #sec = 0;
  #ns = 0;
  readonly #fixed: boolean;
  constructor(timeOrigin?: number) {
    this.#fixed = timeOrigin !== undefined;
    this.#origin = timeOrigin ?? performance.timeOrigin;
    this.#anchor();
  }

  #anchor(): void {
    // Whole seconds and nanoseconds apart: a double holds Unix nanoseconds only to ~0.25 µs.
    this.#sec = Math.trunc(this.#origin / 1000);
    this.#ns = Math.round((this.#origin - this.#sec * 1000) * 1e6);
  }

  /** Follow the wall clock if it moved more than 2 ms away from origin + performance.now(). */
  resync(): void {
    if (this.#fixed) return;
    const origin = Date.now() - performance.now();
    if (Math.abs(origin - this.#origin) > 2) {
      this.#origin = origin;
      this.#anchor();
    }
  }

  nanos(t: number): string {
    const s = Math.trunc(t / 1000);
    let sec = this.#sec + s;
    let ns = this.#ns + Math.round((t - s * 1000) * 1e6);
    if (ns >= 1e9) {
      sec += 1;
      ns -= 1e9;
    } else if (ns < 0) {
      sec -= 1;
      ns += 1e9;
    }
    const n = String(ns);
    return `${sec}${"000000000".slice(n.length)}${n}`;
  }
}

export class SpanJsonEncoder {
  readonly #limits: EncoderLimits;
  readonly #clock: Clock;
  /** Per attribute key (the gateway's keys are a small fixed set): `{"key":"<k>","value":` and its string KeyValues. */
  readonly #keys = new Map<string, KeyEntry>();
  /** `{"resourceSpans":[{"resource":…,"scopeSpans":[{"scope":…,"spans":[` */
  readonly prefix: string;
  readonly suffix = "]}]}]}";
  /** Re-anchor the clock to the wall clock (once per batch: spans of a batch share one anchor). */
  resync(): void {
    this.#clock.resync();
  }

  constructor(
    resource: { attributes: Attributes; schemaUrl?: string | undefined },
    scope: { name: string; version?: string | undefined },
    limits: EncoderLimits = DEFAULT_LIMITS,
    clock: Clock = new Clock(),
  ) {
    this.#limits = limits;
    this.#clock = clock;
    // The resource is not cut by span limits (the SDK does not limit resource attributes either).
    const unlimited: EncoderLimits = { ...limits, attributeCount: Number.POSITIVE_INFINITY, valueLength: Number.POSITIVE_INFINITY };
    const r = this.#attributes(resource.attributes, unlimited);
    const schema = resource.schemaUrl ? `,"schemaUrl":${q(resource.schemaUrl)}` : "";
    const scopeJson = `{"name":${q(scope.name)}${scope.version !== undefined ? `,"version":${q(scope.version)}` : ""}}`;
    this.prefix = `{"resourceSpans":[{"resource":{"attributes":[${r.json}],"droppedAttributesCount":0}${schema},"scopeSpans":[{"scope":${scopeJson},"spans":[`;
  }

  #key(k: string): KeyEntry {
    let e = this.#keys.get(k);
    if (e === undefined) {
      e = { prefix: `{"key":${q(k)},"value":`, strings: new Map() };
      if (this.#keys.size < 4096) this.#keys.set(k, e);
    }
    return e;
  }

  /** One KeyValue; a string value's whole KeyValue is kept per key (most values repeat: method, route, tool, user). */
  #keyValue(k: string, v: AttributeValue | null | undefined, limits: EncoderLimits): string | undefined {
    const e = this.#key(k);
    if (typeof v === "string" && v.length <= limits.valueLength) {
      let kv = e.strings.get(v);
      if (kv === undefined) {
        kv = `${e.prefix}{"stringValue":${q(v)}}}`;
        // Short values only: long ones (recorded arguments, results) rarely repeat and would hold memory.
        if (v.length <= 128 && e.strings.size < STRINGS_PER_KEY) e.strings.set(v, kv);
      }
      return kv;
    }
    const x = this.#anyValue(v, limits);
    return x === undefined ? undefined : `${e.prefix}${x}}`;
  }

  #string(s: string, limits: EncoderLimits): string {
    return q(s.length > limits.valueLength ? s.slice(0, limits.valueLength) : s);
  }

  /** AnyValue JSON, or undefined for what is not an attribute value (null, undefined, objects: skipped as the SDK does). */
  #anyValue(v: AttributeValue | null | undefined, limits: EncoderLimits): string | undefined {
    switch (typeof v) {
      case "string":
        return `{"stringValue":${this.#string(v, limits)}}`;
      case "number":
        // int64 only for safe integers; 1e21 and the like stay doubles (exact as written).
        return Number.isSafeInteger(v) ? `{"intValue":${v}}` : `{"doubleValue":${doubleJson(v)}}`;
      case "boolean":
        return v ? '{"boolValue":true}' : '{"boolValue":false}';
      case "object": {
        if (!Array.isArray(v)) return undefined;
        let out = "";
        for (let i = 0; i < v.length; i++) {
          const e = v[i] as string | number | boolean | null | undefined;
          // A null element of a homogeneous array is kept as an empty AnyValue (what otlp-transformer sends).
          const x = e === null || e === undefined || typeof e === "object" ? "{}" : (this.#anyValue(e, limits) ?? "{}");
          out += i === 0 ? x : `,${x}`;
        }
        return `{"arrayValue":{"values":[${out}]}}`;
      }
      default:
        return undefined;
    }
  }

  #attributes(a: Attributes, limits: EncoderLimits): { json: string; dropped: number } {
    let json = "";
    let n = 0;
    let dropped = 0;
    for (const k in a) {
      const kv = this.#keyValue(k, a[k], limits);
      if (kv === undefined) continue;
      if (n >= limits.attributeCount) {
        dropped++;
        continue;
      }
      json += n === 0 ? kv : `,${kv}`;
      n++;
    }
    return { json, dropped };
  }

  #link(l: Link): string {
    const c: SpanContext = l.context;
    const a = l.attributes ? this.#attributes(l.attributes, this.#limits) : { json: "", dropped: 0 };
    const ts = c.traceState?.serialize();
    const flags = (c.traceFlags & 0xff) | HAS_IS_REMOTE | (c.isRemote ? IS_REMOTE : 0);
    return `{"traceId":"${c.traceId}","spanId":"${c.spanId}"${ts ? `,"traceState":${q(ts)}` : ""},"attributes":[${a.json}],"droppedAttributesCount":${a.dropped},"flags":${flags}}`;
  }

  /** One span as an OTLP/JSON `Span` object. */
  encode(r: SpanRecord): string {
    const sc = r.sc;
    const lim = this.#limits;
    const clock = this.#clock;
    const ts = sc.traceState?.serialize();
    const flags = (sc.traceFlags & 0xff) | HAS_IS_REMOTE | (r.parent?.isRemote ? IS_REMOTE : 0);
    const attrs = this.#attributes(r.attributes, lim);
    // An end before the start is recorded as a zero-length span (the SDK's Span.end does the same).
    const end = Math.max(r.end, r.start);
    let s = `{"traceId":"${sc.traceId}","spanId":"${sc.spanId}"`;
    if (ts) s += `,"traceState":${q(ts)}`;
    if (r.parent) s += `,"parentSpanId":"${r.parent.spanId}"`;
    s += `,"flags":${flags},"name":${q(r.name)},"kind":${r.kind + 1},"startTimeUnixNano":"${clock.nanos(r.start)}","endTimeUnixNano":"${clock.nanos(end)}"`;
    s += `,"attributes":[${attrs.json}],"droppedAttributesCount":${attrs.dropped}`;
    const events = r.events;
    let eventsJson = "";
    let droppedEvents = 0;
    if (events) {
      for (let i = 0; i < events.length; i++) {
        if (i >= lim.eventCount) {
          droppedEvents = events.length - lim.eventCount;
          break;
        }
        const e = events[i]!;
        const ea = this.#attributes(e.attributes, lim);
        const x = `{"timeUnixNano":"${clock.nanos(e.time)}","name":${q(e.name)},"attributes":[${ea.json}],"droppedAttributesCount":${ea.dropped}}`;
        eventsJson += i === 0 ? x : `,${x}`;
      }
    }
    s += `,"events":[${eventsJson}],"droppedEventsCount":${droppedEvents}`;
    const links = r.links;
    let linksJson = "";
    let droppedLinks = 0;
    if (links) {
      for (let i = 0; i < links.length; i++) {
        if (i >= lim.linkCount) {
          droppedLinks = links.length - lim.linkCount;
          break;
        }
        linksJson += i === 0 ? this.#link(links[i]!) : `,${this.#link(links[i]!)}`;
      }
    }
    s += `,"links":[${linksJson}],"droppedLinksCount":${droppedLinks}`;
    const st = r.status;
    // Status message only with ERROR (the API: "Description MUST be ignored for StatusCode Ok & Unset").
    if (st && st.code === 2 && st.message) s += `,"status":{"code":2,"message":${q(st.message)}}}`;
    else s += `,"status":{"code":${st ? st.code : 0}}}`;
    return s;
  }
}
