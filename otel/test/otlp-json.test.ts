// The OTLP/JSON encoder (gateway/src/otel/otlp-json.ts) against the SDK's own encoding: the same span records fed
// to the SDK (sdkSpanSink) and serialized by otlp-transformer's JsonTraceSerializer give the same request, field
// by field (ids, parent, trace state, flags, kind, times, every attribute type, events, links, status,
// resource and scope); plus the limits and the proto3 JSON corner cases the SDK does not cover.

import { type Attributes, ROOT_CONTEXT, type SpanContext, SpanKind, SpanStatusCode, TraceFlags, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { Clock, DEFAULT_LIMITS, limitsFromEnv, SpanJsonEncoder } from "../../gateway/src/otel/otlp-json.ts";
import { newSpanId, newTraceId, PresetIdGenerator, type SpanRecord, sdkSpanSink } from "../../gateway/src/otel/recorder.ts";
import { buildSampler } from "../../gateway/src/otel/sampler.ts";

const SCOPE = { name: "@mcp-edge/otel", version: "0.1.0" };
const resource = resourceFromAttributes({ "service.name": "gw-json", "service.instance.id": "i-1", "host.cores": 2 });

function remoteParent(): SpanContext {
  // Through the W3C propagator, as the gateway gets it: isRemote, with a trace state object.
  const ctx = new W3CTraceContextPropagator().extract(
    ROOT_CONTEXT,
    { traceparent: `00-${newTraceId()}-${newSpanId()}-01`, tracestate: "vendor=abc,other=x-y" },
    { keys: (c: Record<string, string>) => Object.keys(c), get: (c: Record<string, string>, k: string) => c[k] },
  );
  return trace.getSpanContext(ctx)!;
}

function rec(over: Partial<SpanRecord> & { attributes?: Attributes }): SpanRecord {
  const start = performance.now() - 5;
  return {
    name: "tools/call echo",
    kind: SpanKind.SERVER,
    sc: { traceId: newTraceId(), spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED, isRemote: false },
    parent: undefined,
    start,
    end: start + 1.234567,
    attributes: {},
    links: undefined,
    status: undefined,
    events: undefined,
    ended: true,
    ...over,
  };
}

/** The SDK's request for the same records, parsed. */
function sdkRequest(records: SpanRecord[]): unknown {
  const mem = new InMemorySpanExporter();
  const ids = new PresetIdGenerator();
  const provider = new TracerProvider({
    resource,
    sampler: buildSampler({ ratio: 1 }),
    idGenerator: ids,
    spanProcessors: [new SimpleSpanProcessor({ exporter: mem })],
  });
  const sink = sdkSpanSink(provider.getTracer(SCOPE.name, SCOPE.version), ids);
  for (const r of records) sink.take(r);
  return JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(mem.getFinishedSpans())));
}

function ourRequest(records: SpanRecord[], enc = new SpanJsonEncoder(resource, SCOPE)): unknown {
  return JSON.parse(enc.prefix + records.map((r) => enc.encode(r)).join(",") + enc.suffix);
}

type Json = Record<string, unknown>;
const spansOf = (req: unknown) => ((req as Json).resourceSpans as Json[])[0]!.scopeSpans as Json[];

/** Times may differ by the SDK's per-span wall-clock correction (about a millisecond): compared apart. */
function splitTimes(req: unknown): { req: unknown; times: number[] } {
  const times: number[] = [];
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      const o: Json = {};
      for (const [k, x] of Object.entries(v)) {
        if (k.endsWith("UnixNano")) times.push(Number(BigInt(x as string) % 10n ** 12n));
        else o[k] = walk(x);
      }
      return o;
    }
    return v;
  };
  return { req: walk(req), times };
}

describe("OTLP/JSON encoder: the SDK's JSON for the same spans", () => {
  it("SERVER with a remote parent, trace state and link; CLIENT; INTERNAL with error status; events; every attribute type", () => {
    const parent = remoteParent();
    const server = rec({
      sc: { traceId: parent.traceId, spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED, traceState: parent.traceState, isRemote: false },
      parent,
      links: [
        { context: { traceId: newTraceId(), spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED, isRemote: true } },
        { context: { traceId: newTraceId(), spanId: newSpanId(), traceFlags: 0, isRemote: true }, attributes: { why: "http", n: 2 } },
      ],
      attributes: {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": 'echo "quoted" \\ and ünïcödé \u2028 and \u0001',
        "server.port": 8443,
        ratio: 0.25,
        negative: -7,
        ok: true,
        no: false,
        tags: ["a", "b"],
        ints: [1, 2, 3],
        doubles: [1.5, 2.5],
        flags: [true, false],
        empty: "",
      },
      events: [
        {
          name: "mcp_gateway.error",
          attributes: { "error.type": "UPSTREAM_TIMEOUT", "mcp_gateway.error.detail": "x" },
          time: performance.now(),
        },
      ],
      status: { code: SpanStatusCode.ERROR, message: "backend said no" },
    });
    const client = rec({
      kind: SpanKind.CLIENT,
      sc: { traceId: parent.traceId, spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED, traceState: parent.traceState, isRemote: false },
      parent: server.sc,
      attributes: { "server.address": "127.0.0.1", "http.response.status_code": 200 },
    });
    const internal = rec({
      kind: SpanKind.INTERNAL,
      name: "authz opa",
      sc: { traceId: parent.traceId, spanId: newSpanId(), traceFlags: TraceFlags.SAMPLED, traceState: parent.traceState, isRemote: false },
      parent: server.sc,
      attributes: { "mcp_gateway.stage": "authz", "mcp_gateway.authz.cache_hit": false },
      status: { code: SpanStatusCode.ERROR, message: "AUTHZ_DENIED" },
    });
    const root = rec({ name: "initialize", attributes: { "mcp.method.name": "initialize" } });
    const records = [server, client, internal, root];

    const ours = splitTimes(ourRequest(records));
    const sdk = splitTimes(sdkRequest(records));
    expect(ours.req).toEqual(sdk.req);
    expect(ours.times).toHaveLength(sdk.times.length);
    // The SDK re-anchors each span with Date.now() (1 ms resolution); ours follows timeOrigin within 2 ms.
    for (let i = 0; i < ours.times.length; i++) expect(Math.abs(ours.times[i]! - sdk.times[i]!)).toBeLessThan(3_000_000);

    // And what the OTLP spec asks for, spelled out.
    const [s, c, n, r] = (spansOf(ourRequest(records))[0]!.spans as Json[]).map((x) => x as Json);
    expect(s!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(s!.parentSpanId).toBe(parent.spanId);
    expect(s!.traceState).toBe("vendor=abc,other=x-y");
    expect(s!.kind).toBe(2);
    expect(c!.kind).toBe(3);
    expect(n!.kind).toBe(1);
    expect(s!.flags).toBe(0x301); // sampled, has is_remote, parent is remote
    expect(c!.flags).toBe(0x101);
    expect(r!.parentSpanId).toBeUndefined();
    expect(typeof s!.startTimeUnixNano).toBe("string");
    expect(BigInt(s!.endTimeUnixNano as string) - BigInt(s!.startTimeUnixNano as string)).toBe(1_234_567n);
    expect(Number(BigInt(s!.startTimeUnixNano as string) / 1_000_000n)).toBeCloseTo(Date.now() - 5, -2);
  });

  it("attribute count and value length limits as the SDK applies them; nulls and objects skipped", () => {
    const lim = { ...DEFAULT_LIMITS, attributeCount: 3, valueLength: 4 };
    const enc = new SpanJsonEncoder(resource, SCOPE, lim);
    const r = rec({ attributes: { a: "abcdefgh", b: ["abcdef", "x"], c: 1, d: 2, e: 3, skip: undefined } });
    const span = (spansOf(ourRequest([r], enc))[0]!.spans as Json[])[0]!;
    expect(span.attributes).toEqual([
      { key: "a", value: { stringValue: "abcd" } },
      { key: "b", value: { arrayValue: { values: [{ stringValue: "abcd" }, { stringValue: "x" }] } } },
      { key: "c", value: { intValue: 1 } },
    ]);
    expect(span.droppedAttributesCount).toBe(2);
    // The resource is never cut.
    expect(((ourRequest([r], enc) as Json).resourceSpans as Json[])[0]!.resource).toMatchObject({
      attributes: expect.arrayContaining([{ key: "service.instance.id", value: { stringValue: "i-1" } }]),
    });
    expect(limitsFromEnv({ OTEL_ATTRIBUTE_COUNT_LIMIT: "10", OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: "64" })).toMatchObject({
      attributeCount: 10,
      valueLength: 64,
    });
  });

  it("proto3 JSON corner cases: non-finite doubles as strings, unsafe integers as doubles, an end before the start", () => {
    const r = rec({ attributes: { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, big: 2 ** 60 } });
    r.end = r.start - 1;
    const span = (spansOf(ourRequest([r]))[0]!.spans as Json[])[0]!;
    expect(span.attributes).toEqual([
      { key: "nan", value: { doubleValue: "NaN" } },
      { key: "inf", value: { doubleValue: "Infinity" } },
      { key: "big", value: { doubleValue: 2 ** 60 } },
    ]);
    expect(span.endTimeUnixNano).toBe(span.startTimeUnixNano);
  });

  it("the clock: Unix nanoseconds of a performance.now() time, carried across the second", () => {
    const c = new Clock(1_700_000_000_999.5);
    expect(c.nanos(0)).toBe("1700000000999500000");
    expect(c.nanos(0.5)).toBe("1700000001000000000");
    expect(c.nanos(0.75)).toBe("1700000001000250000");
    expect(c.nanos(1000.25)).toBe("1700000001999750000");
    expect(c.nanos(0.000001)).toBe("1700000000999500001");
  });
});
