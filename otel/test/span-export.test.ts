// The bounded OTLP/JSON span queue (gateway/src/otel/span-export.ts) against real HTTP receivers that misbehave: a
// receiver that stops answering fills the queue, new spans are dropped and counted (the
// mcp_gateway.telemetry.spans_dropped counter on /metrics, error.type queue_full) with one warning for the
// episode, and once it answers again the queue drains and every span is either exported or counted; a
// receiver that refuses (HTTP 400) makes export_failed drops. The episode's end is logged once.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ExportResult } from "@opentelemetry/core";
import { afterEach, describe, expect, it } from "vitest";
import type { LogFields, Logger } from "../../gateway/src/log/logger.ts";
import { startTelemetry, type Telemetry } from "../../gateway/src/otel/index.ts";
import { SpanJsonEncoder } from "../../gateway/src/otel/otlp-json.ts";
import type { SpanRecord } from "../../gateway/src/otel/recorder.ts";
import { type EncodedBatch, OtlpSpanQueue } from "../../gateway/src/otel/span-export.ts";
import { ALLOW, AUTHN, CREDS, exchange, rpc, send } from "./helpers/synthetic.ts";

interface Receiver {
  url: string;
  /** Spans in the bodies it answered 200 to. */
  spans: number;
  held: ServerResponse[];
  /** Answer the held requests (and every later one) with 200. */
  release(): void;
  close(): Promise<void>;
}

/** An OTLP/HTTP receiver that holds every request until released (`hold`), or refuses them (`status`). */
async function startReceiver(mode: { hold?: boolean; status?: number }): Promise<Receiver> {
  let holding = mode.hold === true;
  const state: Receiver = {
    url: "",
    spans: 0,
    held: [],
    release() {
      holding = false;
      for (const res of state.held.splice(0)) res.writeHead(200, { "content-type": "application/json" }).end("{}");
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (mode.status) return void res.writeHead(mode.status, { "content-type": "application/json" }).end('{"code":3,"message":"no"}');
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: unknown[] }> }>;
      };
      state.spans += body.resourceSpans[0]!.scopeSpans[0]!.spans.length;
      if (holding) state.held.push(res);
      else res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

function captureLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (m: string, _f?: LogFields) => void warnings.push(m),
    error: (m: string) => void warnings.push(`error: ${m}`),
    child: () => logger,
    isLevelEnabled: () => true,
  };
  return { logger, warnings };
}

async function until<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One tools/call's events: 5 spans (SERVER, authn, authz, credentials, CLIENT). */
function call(id: number): void {
  send({
    ex: exchange(),
    msg: rpc({ id, method: "tools/call", params: { name: "echo", arguments: {} } }),
    stages: [AUTHN, ALLOW, CREDS],
    upstream: { httpStatus: 200 },
    response: { result: { content: [] } },
  });
}

async function scrape(t: Telemetry): Promise<string> {
  const server = createServer((req, res) => t.metricsHandler!(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    return await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const dropped = (text: string, reason: string): number => {
  const m = new RegExp(`^mcp_gateway_telemetry_spans_dropped_total\\{error_type="${reason}"\\} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
};

let t: Telemetry | undefined;
let rx: Receiver | undefined;
afterEach(async () => {
  rx?.release();
  await t?.shutdown();
  await rx?.close();
  t = undefined;
  rx = undefined;
});

describe("bounded span export", () => {
  it("a receiver that stops answering: the queue stays bounded, drops are counted and warned once, then it drains", async () => {
    rx = await startReceiver({ hold: true });
    const { logger, warnings } = captureLogger();
    t = startTelemetry({
      logger,
      otlp: { endpoint: rx.url, metrics: false },
      prometheus: { enabled: true },
      batch: { maxQueueSize: 20, maxExportBatchSize: 5, scheduledDelayMillis: 10, maxConcurrentExports: 1 },
    });
    // 30 calls = 150 spans: one request of 5 in flight (held), 20 queued, the rest dropped.
    for (let i = 0; i < 30; i++) call(i);
    await until("the first request held", () => rx!.held.length === 1);
    await until("drops counted", async () => dropped(await scrape(t!), "queue_full") >= 150 - 25);
    const text = await scrape(t);
    expect(dropped(text, "queue_full")).toBe(125);
    expect(dropped(text, "export_failed")).toBe(0);
    expect(warnings.filter((w) => w.includes("dropping spans"))).toHaveLength(1);
    expect(warnings[0]).toMatch(/export queue is full \(20 spans waiting, 1 requests in flight\)/);

    // More calls while the receiver still holds: still one warning, still counted.
    for (let i = 30; i < 32; i++) call(i);
    await until("later drops counted", async () => dropped(await scrape(t!), "queue_full") === 135);
    expect(warnings.filter((w) => w.includes("dropping spans"))).toHaveLength(1);

    // The receiver answers again: what was queued goes out; nothing more is lost.
    rx.release();
    await t.forceFlush();
    expect(rx.spans).toBe(25);
    call(99);
    await t.forceFlush();
    expect(rx.spans).toBe(30);
    expect(dropped(await scrape(t), "queue_full")).toBe(135);
  }, 60_000);

  it("a receiver that refuses (HTTP 400): the batch is dropped as export_failed, with one warning", async () => {
    rx = await startReceiver({ status: 400 });
    const { logger, warnings } = captureLogger();
    t = startTelemetry({
      logger,
      otlp: { endpoint: rx.url, metrics: false },
      prometheus: { enabled: true },
      batch: { maxExportBatchSize: 5, scheduledDelayMillis: 10 },
    });
    for (let i = 0; i < 4; i++) call(i);
    await t.forceFlush();
    const text = await scrape(t);
    expect(dropped(text, "export_failed")).toBe(20);
    expect(dropped(text, "queue_full")).toBe(0);
    expect(warnings.filter((w) => w.includes("dropping spans"))).toHaveLength(1);
    expect(warnings[0]).toMatch(/an OTLP export failed/);
  }, 60_000);
});

describe("drop episodes", () => {
  it("an episode ends after a quiet time with one line saying how many were dropped", async () => {
    const callbacks: Array<(r: ExportResult) => void> = [];
    const exported: EncodedBatch[] = [];
    // A delegate that answers when told: the queue's own bookkeeping, apart from HTTP.
    const delegate = {
      export(b: EncodedBatch, cb: (r: ExportResult) => void) {
        exported.push(b);
        callbacks.push(cb);
      },
      forceFlush: async () => {},
      shutdown: async () => {},
      setMetrics() {},
    };
    const lines: string[] = [];
    const q = new OtlpSpanQueue({
      encoder: new SpanJsonEncoder({ attributes: { "service.name": "q" } }, { name: "s" }),
      delegate,
      maxQueueSize: 2,
      maxExportBatchSize: 1,
      maxConcurrentExports: 1,
      episodeQuietMs: 50,
      warn: (m) => lines.push(m),
    });
    const rec = (): SpanRecord => ({
      name: "x",
      kind: 1,
      sc: { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: 1 },
      parent: undefined,
      start: 1,
      end: 2,
      attributes: {},
      links: undefined,
      status: undefined,
      events: undefined,
      ended: true,
    });
    for (let i = 0; i < 6; i++) q.take(rec()); // 1 in flight, 2 queued, 3 dropped
    expect(q.stats).toMatchObject({ droppedQueueFull: 3, requests: 1 });
    expect(lines).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 60));
    callbacks.shift()!({ code: 0 });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^stopped dropping spans: 3 dropped \(queue_full\)/);
    // The body is one valid OTLP/JSON request.
    const body = JSON.parse(Buffer.from(exported[0]!.body).toString("utf8"));
    expect(body.resourceSpans[0].scopeSpans[0].spans).toHaveLength(1);
    while (callbacks.length > 0) callbacks.shift()!({ code: 0 });
    await q.shutdown();
    expect(q.stats.exported).toBe(3);
  });
});
