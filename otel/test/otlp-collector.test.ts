// The production span path (OTLP/JSON encoded from the span records, gateway/src/otel/span-export.ts) into a real
// OpenTelemetry Collector (otelcol-mcp, its OTLP/HTTP receiver and the debug exporter at detailed verbosity):
// every span the collector parsed matches, field by field, the span the SDK built from the same record (an
// in-memory span processor runs alongside): ids, parent, name, kind, start and duration, status, every
// attribute with its type, events and links; plus the resource and scope. Also: a collector that goes away
// makes the queue drop and count, with one warning, and the gateway keeps going.

import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channels } from "../../gateway/src/diagnostics.ts";
import { startTelemetry } from "../../gateway/src/otel/index.ts";
import { type RunningCollector, startCollector } from "./helpers/collector.ts";
import { AUTHN, CREDS, exchange, realisticSession, rpc, send } from "./helpers/synthetic.ts";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

interface CollectedSpan {
  traceId: string;
  parentId: string;
  id: string;
  name: string;
  kind: string;
  startNs: bigint;
  endNs: bigint;
  statusCode: string;
  statusMessage: string;
  attributes: string[];
  events: Array<{ name: string; attributes: string[] }>;
  links: Array<{ traceId: string; id: string }>;
}

/** "2026-12-08 04:21:04.41134254 +0000 UTC" → Unix nanoseconds. */
function parseTime(s: string): bigint {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))? \+0000 UTC$/.exec(s.trim());
  if (!m) throw new Error(`unparsed time ${s}`);
  const sec = BigInt(Date.parse(`${m[1]}T${m[2]}Z`) / 1000);
  return sec * 1_000_000_000n + BigInt((m[3] ?? "").padEnd(9, "0"));
}

/** The debug exporter's detailed text (pdata's text marshaler), span by span. */
function parseDebug(out: string): CollectedSpan[] {
  const spans: CollectedSpan[] = [];
  for (const block of out.split(/^Span #\d+$/m).slice(1)) {
    const field = (name: string) => new RegExp(`^ {4}${name} +: ?(.*)$`, "m").exec(block)?.[1] ?? "";
    const end = block.search(/^(ResourceSpans|ScopeSpans|\d{4}-\d\d-\d\dT)/m);
    const body = end < 0 ? block : block.slice(0, end);
    const section = (name: string) => {
      const i = body.indexOf(`\n${name}:\n`);
      if (i < 0) return "";
      const rest = body.slice(i + name.length + 3);
      const j = rest.search(/^(Attributes|Events|Links):$/m);
      return j < 0 ? rest : rest.slice(0, j);
    };
    const attrs = section("Attributes")
      .split("\n")
      .filter((l) => l.startsWith("     -> "))
      .map((l) => l.slice(8));
    const events = section("Events")
      .split(/^SpanEvent #\d+$/m)
      .slice(1)
      .map((e) => ({
        name: /-> Name: (.*)$/m.exec(e)?.[1] ?? "",
        attributes: e
          .split("\n")
          .filter((l) => l.startsWith("          -> "))
          .map((l) => l.slice(13)),
      }));
    const links = section("Links")
      .split(/^SpanLink #\d+$/m)
      .slice(1)
      .map((l) => ({ traceId: /-> Trace ID: (.*)$/m.exec(l)?.[1] ?? "", id: /-> ID: (.*)$/m.exec(l)?.[1] ?? "" }));
    spans.push({
      traceId: field("Trace ID"),
      parentId: field("Parent ID"),
      id: field("ID"),
      name: field("Name"),
      kind: field("Kind"),
      startNs: parseTime(field("Start time")),
      endNs: parseTime(field("End time")),
      statusCode: field("Status code"),
      statusMessage: field("Status message"),
      attributes: attrs,
      events,
      links,
    });
  }
  return spans;
}

/** How the collector prints an attribute the SDK holds. */
function expected(key: string, v: unknown): string {
  if (typeof v === "string") return `${key}: Str(${v})`;
  if (typeof v === "boolean") return `${key}: Bool(${v})`;
  if (typeof v === "number") return Number.isInteger(v) ? `${key}: Int(${v})` : `${key}: Double(${v})`;
  throw new Error(`no rendering for ${key}`);
}

const KIND = { [SpanKind.INTERNAL]: "Internal", [SpanKind.SERVER]: "Server", [SpanKind.CLIENT]: "Client" } as Record<number, string>;
const STATUS = ["Unset", "Ok", "Error"];
const hrNs = (t: [number, number]) => BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);

describe("OTLP/JSON spans into a real collector", () => {
  let port: number;
  let collector: RunningCollector;

  beforeAll(async () => {
    port = await freePort();
    const config = [
      "receivers:",
      "  otlp:",
      "    protocols:",
      "      http:",
      `        endpoint: 127.0.0.1:${port}`,
      "exporters:",
      "  debug:",
      "    verbosity: detailed",
      "service:",
      "  pipelines:",
      "    traces: { receivers: [otlp], exporters: [debug] }",
      "  telemetry: { metrics: { level: none } }",
    ].join("\n");
    collector = await startCollector(config, async () => {
      const r = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      return r.ok;
    });
  }, 60_000);

  afterAll(async () => {
    await collector?.stop();
  });

  it("each span the collector received is the SDK's span for the same record, field by field", async () => {
    const mem = new InMemorySpanExporter();
    const t = startTelemetry({
      serviceName: "gw-collector-json",
      otlp: { endpoint: `http://127.0.0.1:${port}`, metrics: false },
      batch: { scheduledDelayMillis: 20, maxExportBatchSize: 7 }, // several requests
      spanProcessors: [new SimpleSpanProcessor({ exporter: mem })],
    });
    let sdkSpans: ReadableSpan[];
    try {
      realisticSession({
        inboundTraceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        metaTraceparent: "00-5bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-01",
      });
      // A call during which the gateway reports an error: an event on its SERVER span; the backend times out.
      send({
        ex: exchange(),
        msg: rpc({ id: 99, method: "tools/call", params: { name: "slow_tool", arguments: {} } }),
        stages: [AUTHN, CREDS],
        upstream: { httpStatus: 504, gatewayError: "UPSTREAM_TIMEOUT" },
        during: (ex) =>
          channels.error.publish({ server: "servicenow", code: "UPSTREAM_TIMEOUT", detail: "no answer in 30 s", exchange: ex }),
        gatewayError: "UPSTREAM_TIMEOUT",
      });
      await t.forceFlush();
      sdkSpans = [...mem.getFinishedSpans()]; // shutdown empties the in-memory exporter
    } finally {
      await t.shutdown();
    }
    expect(sdkSpans.length).toBeGreaterThan(25);

    const deadline = Date.now() + 20_000;
    let got: CollectedSpan[] = [];
    while (Date.now() < deadline) {
      got = parseDebug(collector.output());
      if (sdkSpans.every((s) => got.some((g) => g.id === s.spanContext().spanId))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const s of sdkSpans) {
      const id = s.spanContext().spanId;
      const g = got.filter((x) => x.id === id);
      expect(g, `span ${s.name} ${id} received once`).toHaveLength(1);
      const c = g[0]!;
      expect(c.traceId).toBe(s.spanContext().traceId);
      expect(c.parentId).toBe(s.parentSpanContext?.spanId ?? "");
      expect(c.name).toBe(s.name);
      expect(c.kind).toBe(KIND[s.kind]);
      // Same duration to the microsecond; the start within the SDK's per-span wall-clock correction.
      const dur = hrNs(s.endTime) - hrNs(s.startTime);
      expect(Number(c.endNs - c.startNs - dur)).toBeLessThan(1000);
      expect(Math.abs(Number(c.startNs - hrNs(s.startTime)))).toBeLessThan(3_000_000);
      expect(c.statusCode).toBe(STATUS[s.status.code]);
      expect(c.statusMessage).toBe(s.status.message ?? "");
      expect(c.attributes.sort()).toEqual(
        Object.entries(s.attributes)
          .map(([k, v]) => expected(k, v))
          .sort(),
      );
      expect(c.events.map((e) => ({ name: e.name, attributes: e.attributes.sort() }))).toEqual(
        s.events.map((e) => ({
          name: e.name,
          attributes: Object.entries(e.attributes ?? {})
            .map(([k, v]) => expected(k, v))
            .sort(),
        })),
      );
      expect(c.links).toEqual(s.links.map((l) => ({ traceId: l.context.traceId, id: l.context.spanId })));
    }
    // What the checks above covered: links, events, error statuses, remote parents, every kind.
    expect(got.some((g) => g.links.length > 0)).toBe(true);
    expect(got.some((g) => g.events.some((e) => e.name === "mcp_gateway.error"))).toBe(true);
    expect(got.some((g) => g.statusCode === "Error" && g.statusMessage !== "")).toBe(true);
    expect(got.some((g) => g.parentId === "10f067aa0ba902b7")).toBe(true);
    expect(new Set(got.map((g) => g.kind))).toEqual(new Set(["Server", "Client", "Internal"]));
    const out = collector.output();
    expect(out).toMatch(/-> service\.name: Str\(gw-collector-json\)/);
    expect(out).toMatch(/InstrumentationScope @mcp-edge\/otel 0\.1\.0/);
  }, 60_000);
});
