// The deferred hand-over of spans (gateway/src/otel/recorder.ts), seen through the SDK sink: the SDK's spans
// carry exactly the ids that were propagated upstream, they reach the span processors without anyone
// flushing, a turn hands over a bounded slice and a full queue drops (counted) instead of working on the
// request path, sampling decided on the request path matches the SDK's, and a stage that passed silently
// makes no span while one that refused does.

import { ROOT_CONTEXT, SpanKind, TraceFlags } from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { afterEach, describe, expect, it } from "vitest";
import { parseTraceparent } from "../../gateway/src/log/message-facts.ts";
import { startTelemetry, type Telemetry } from "../../gateway/src/otel/index.ts";
import { newSpanId, newTraceId, PresetIdGenerator, Recorder, type SpanSink, sdkSpanSink } from "../../gateway/src/otel/recorder.ts";
import { ALLOW, AUTHN, exchange, rpc, SESSION, send } from "./helpers/synthetic.ts";

let t: Telemetry | undefined;
afterEach(async () => {
  await t?.shutdown();
  t = undefined;
});

function withMemory(extra: Parameters<typeof startTelemetry>[0] = {}) {
  const mem = new InMemorySpanExporter();
  t = startTelemetry({ otlp: { traces: false, metrics: false }, spanProcessors: [new SimpleSpanProcessor({ exporter: mem })], ...extra });
  return mem;
}

const call = (id: number, headers: Record<string, string> = {}) => ({
  ex: exchange({ headers: { host: "127.0.0.1", ...headers } }),
  msg: rpc({ id, method: "tools/call", params: { name: "echo", arguments: {} } }),
});

describe("recorder: spans handed to the SDK after the request's events", () => {
  it("the SDK's spans have the ids that went upstream, and arrive without a flush", async () => {
    const mem = withMemory();
    const { upstreamPropagation } = send({ ...call(1), stages: [AUTHN, SESSION, ALLOW], upstream: {}, response: { result: {} } });
    // Nothing handed over yet: the request path only filled records.
    expect(mem.getFinishedSpans()).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    const spans = mem.getFinishedSpans();
    const client = spans.find((s) => s.kind === SpanKind.CLIENT)!;
    const server = spans.find((s) => s.kind === SpanKind.SERVER)!;
    const sent = parseTraceparent(upstreamPropagation?.traceparent)!;
    expect(client.spanContext().traceId).toBe(sent.traceId);
    expect(client.spanContext().spanId).toBe(sent.spanId);
    expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(sent.sampled).toBe(true);
    // Stage spans: authn and authz reported attributes; the session check passed silently.
    const internal = spans.filter((s) => s.kind === SpanKind.INTERNAL).map((s) => s.name);
    expect(internal.sort()).toEqual(["authn jwt", "authz opa"]);
    for (const s of spans) expect(s.spanContext().traceId).toBe(sent.traceId);
    // Times come from the events, not from when the batch was fed.
    expect(server.startTime[0] * 1e3 + server.startTime[1] / 1e6).toBeLessThanOrEqual(
      client.startTime[0] * 1e3 + client.startTime[1] / 1e6,
    );
  });

  it("a stage that refused gets a span with error status even without attributes", async () => {
    const mem = withMemory();
    send({ ...call(2), stages: [AUTHN, { stage: "session", perRequest: true, replied: "SESSION_NOT_FOUND" }] });
    await t!.forceFlush();
    const session = mem.getFinishedSpans().find((s) => s.name === "session")!;
    expect(session.status.code).toBe(2);
    expect(session.attributes["mcp_gateway.stage.replied"]).toBe("SESSION_NOT_FOUND");
  });

  it("continues a sampled remote parent and drops an unsampled one, as the SDK's parent-based sampler does", async () => {
    const mem = withMemory({ sampler: { ratio: 0 } });
    const traceId = newTraceId();
    const sampledParent = `00-${traceId}-${newSpanId()}-01`;
    const a = send({ ...call(3, { traceparent: sampledParent }), upstream: {}, response: { result: {} } });
    const b = send({ ...call(4), upstream: {}, response: { result: {} } });
    await t!.forceFlush();
    expect(parseTraceparent(a.upstreamPropagation?.traceparent)).toMatchObject({ traceId, sampled: true });
    // Root decision from ratio 0: not sampled, but the context still goes upstream (flags 00).
    expect(parseTraceparent(b.upstreamPropagation?.traceparent)?.sampled).toBe(false);
    const spans = mem.getFinishedSpans();
    expect(spans.length).toBeGreaterThan(0);
    expect(spans.every((s) => s.spanContext().traceId === traceId)).toBe(true);
  });

  it("past perTurn records and the time budget a turn stops, the rest on the next turns; a full queue drops and counts; ids preset per span", async () => {
    const mem = new InMemorySpanExporter();
    const ids = new PresetIdGenerator();
    const provider = new TracerProvider({ idGenerator: ids, spanProcessors: [new SimpleSpanProcessor({ exporter: mem })] });
    const sampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
    const sdk = sdkSpanSink(provider.getTracer("t"), ids);
    let dropped = 0;
    const sink: SpanSink = {
      take: (r) => sdk.take(r),
      drop: (n) => {
        dropped += n;
      },
    };
    const r = new Recorder(sampler, [sink], { maxQueued: 2048, perTurn: 500, turnBudgetMs: 0 });
    const roots: Array<{ traceId: string; spanId: string }> = [];
    const rec = (sc: { traceId: string; spanId: string; traceFlags: number }) => ({
      name: "x",
      kind: SpanKind.SERVER,
      sc,
      parent: undefined,
      start: performance.now(),
      end: 0,
      attributes: {},
      links: undefined,
      status: undefined,
      events: undefined,
      ended: false,
    });
    for (let i = 0; i < 2100; i++) {
      const sc = r.context(undefined, undefined, "x", SpanKind.SERVER, false);
      roots.push(sc);
      r.end(rec(sc), performance.now());
    }
    // Nothing is done on the request path, even with a full queue: the 52 beyond the bound are dropped.
    expect(mem.getFinishedSpans()).toHaveLength(0);
    expect(dropped).toBe(52);
    await new Promise((res) => setImmediate(res));
    expect(mem.getFinishedSpans()).toHaveLength(500);
    await new Promise((res) => setImmediate(res));
    expect(mem.getFinishedSpans()).toHaveLength(1000);
    r.flush();
    const fed = mem.getFinishedSpans();
    expect(fed).toHaveLength(2048);
    // In order, with the ids that were propagated.
    expect(fed.map((s) => s.spanContext().spanId)).toEqual(roots.slice(0, 2048).map((s) => s.spanId));
    expect(new Set(roots.map((s) => s.traceId)).size).toBe(roots.length);
    expect(ids.generateSpanId()).toMatch(/^[0-9a-f]{16}$/);
    expect(ids.generateTraceId()).toMatch(/^(?!0+$)[0-9a-f]{32}$/);
    // An always-off root sampler: the context is not sampled and nothing is recorded.
    const off = new Recorder(new AlwaysOffSampler(), [sink]);
    const sc = off.context(undefined, ROOT_CONTEXT, "x", SpanKind.SERVER, false);
    expect(sc.traceFlags & TraceFlags.SAMPLED).toBe(0);
  });
});
