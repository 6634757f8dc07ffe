// End to end through the real relay: client → gateway (telemetry + audit on) → a Streamable HTTP backend
// that records the trace context it receives. One trace id from the client to the backend, spans on a
// loopback OTLP receiver, histograms on the gateway's /metrics; a stdio backend's CLIENT span. The whole
// configured stack (authn, OPA, Vault credentials, an OpenTelemetry-instrumented backend) is driven in
// gateway/test/acceptance/observability.test.ts; the cost of tracing is measured by bench/ (BENCH_TELEMETRY).

import { existsSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTraceparent } from "../../gateway/src/log/message-facts.ts";
import { freePort } from "../../policies/test/opa.ts";
import { attr, KIND, type OtlpSpan, type Receiver, startReceiver } from "./helpers/otlp-receiver.ts";

const RELAY = existsSync("gateway/src/server.ts") && existsSync("gateway/test/helpers.ts");

/** A minimal Streamable HTTP MCP backend (JSON responses) that remembers what each request carried. */
async function startBackend(): Promise<{
  url: string;
  seen: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown> }>;
  server: Server;
}> {
  const seen: Array<{ headers: IncomingHttpHeaders; body: Record<string, unknown> }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST") return void res.writeHead(405).end();
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      seen.push({ headers: req.headers, body });
      if (body.id === undefined) return void res.writeHead(202).end();
      const reply = (result: unknown, extra: Record<string, string> = {}) =>
        res.writeHead(200, { "content-type": "application/json", ...extra }).end(JSON.stringify({ jsonrpc: "2.0", id: body.id, result }));
      switch (body.method) {
        case "initialize":
          return reply(
            { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "trace-backend", version: "1" } },
            { "mcp-session-id": "backend-session-e2e" },
          );
        case "tools/list":
          return reply({ tools: [{ name: "echo", inputSchema: { type: "object" } }] });
        case "tools/call":
          return reply({ content: [{ type: "text", text: "echoed" }] });
        default:
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ jsonrpc: "2.0", id: body.id, error: { code: -32601, message: "Method not found" } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, seen, server };
}

describe.skipIf(!RELAY)("end to end through the relay", () => {
  let rx: Receiver;
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let gw: { url: string; close(): Promise<void>; logs: string[] };
  let telemetry: { shutdown(): Promise<void>; forceFlush(): Promise<void> };
  let stopAudit: () => void;
  let flushAudit: () => Promise<void>;
  const auditLines: string[] = [];
  let mcp: string;
  let helpers: typeof import("../../gateway/test/helpers.ts");

  beforeAll(async () => {
    helpers = await import("../../gateway/test/helpers.ts");
    const { startTelemetry } = await import("../../gateway/src/otel/index.ts");
    const { createAuditSink, startAudit } = await import("../../gateway/src/log/audit.ts");
    rx = await startReceiver();
    backend = await startBackend();
    // Wiring as the lead will do it in createGateway/cli: telemetry and audit first, then the listener
    // with GET /metrics mounted from telemetry.metricsHandler.
    const t = startTelemetry({
      otlp: { endpoint: rx.url, metrics: false },
      prometheus: { enabled: true },
      batch: { scheduledDelayMillis: 20 },
    });
    telemetry = t;
    const stream = new PassThrough();
    stream.on("data", (c: Buffer) => auditLines.push(...c.toString("utf8").split("\n").filter(Boolean)));
    // The sink batches (every 20 ms or 64 KiB): the test flushes it before reading the lines.
    const auditSink = createAuditSink({ stream });
    flushAudit = () => auditSink.flush();
    stopAudit = startAudit(auditSink);
    gw = await helpers.startGateway(
      { echo: { url: backend.url }, local: helpers.stdioDemo(), dead: { url: `http://127.0.0.1:${await freePort()}/mcp` } },
      {},
      { extraRoutes: [{ path: "/metrics", handle: t.metricsHandler! }] },
    );
    mcp = `${gw.url}/mcp/echo`;
  });

  /**
   * Flush telemetry until the receiver holds a span matching `pred` (bounded: 100 × 20 ms). The receiver
   * records a span when it has parsed the export; on a busy machine that can trail the flush.
   */
  async function exportedSpan(pred: (s: OtlpSpan) => boolean): Promise<OtlpSpan | undefined> {
    for (let i = 0; i < 100; i++) {
      await telemetry.forceFlush();
      const s = rx.spans.find(pred);
      if (s) return s;
      await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }

  afterAll(async () => {
    await gw?.close();
    stopAudit?.();
    await telemetry?.shutdown();
    backend?.server.close();
    await rx?.close();
  });

  it("one trace id from the client's traceparent to the backend, spans exported, /metrics populated", async () => {
    const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const sid = await helpers.openSession(mcp);
    const h = { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    await (await helpers.post(mcp, { jsonrpc: "2.0", id: 2, method: "tools/list" }, h)).text();
    const call = {
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: {
        name: "echo",
        arguments: { text: "argument-value-not-exported" },
        _meta: { traceparent: `00-${clientTrace}-00f067aa0ba902b7-01` },
      },
    };
    const r = await helpers.post(mcp, call, h);
    expect(r.status).toBe(200);
    await r.text();
    await exportedSpan((s) => s.kind === KIND.SERVER && s.name === "tools/call echo");

    // The backend saw the client's trace, in _meta and in the HTTP headers.
    const atBackend = backend.seen.find((s) => s.body.method === "tools/call")!;
    const meta = (atBackend.body.params as { _meta: Record<string, string> })._meta;
    expect(parseTraceparent(meta.traceparent)?.traceId).toBe(clientTrace);
    expect(parseTraceparent(atBackend.headers.traceparent)?.traceId).toBe(clientTrace);

    // The gateway's SERVER span continues the client's span; its CLIENT span is a child.
    const server = rx.spans.find((s) => s.kind === KIND.SERVER && s.name === "tools/call echo")!;
    expect(server.traceId).toBe(clientTrace);
    expect(server.parentSpanId).toBe("00f067aa0ba902b7");
    expect(attr(server, "mcp.method.name")).toBe("tools/call");
    expect(attr(server, "gen_ai.tool.name")).toBe("echo");
    const client = rx.spans.find((s) => s.kind === KIND.CLIENT && s.parentSpanId === server.spanId)!;
    expect(client).toBeDefined();
    expect(attr(client, "server.address")).toBe("127.0.0.1");
    // The backend's parent is the CLIENT span, in _meta and in the header alike.
    expect(parseTraceparent(meta.traceparent)!.spanId).toBe(client.spanId);
    expect(parseTraceparent(atBackend.headers.traceparent)!.spanId).toBe(client.spanId);
    expect(rx.spans.map((s) => s.name)).toEqual(expect.arrayContaining(["initialize", "notifications/initialized", "tools/list"]));

    // Nothing secret or opt-in left the process.
    const exported = rx.bodies.join("\n");
    expect(exported).not.toContain(sid);
    expect(exported).not.toContain("argument-value-not-exported");
    expect(exported).not.toContain("backend-session-e2e");

    // Audit: one record per message, the trace id of the span.
    await flushAudit();
    await new Promise((r) => setImmediate(r)); // the PassThrough may hand the written lines on in a later tick
    const recs = auditLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const auditCall = recs.find((x) => x["jsonrpc.request.id"] === "3")!;
    expect(auditCall).toMatchObject({
      "mcp.method.name": "tools/call",
      "gen_ai.tool.name": "echo",
      "mcp_gateway.outcome": "ok",
      "trace.id": clientTrace,
    });

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^mcp_server_operation_duration_bucket\{.*mcp_method_name="tools\/call".*\} \d+/m);
    expect(metrics).toMatch(/^mcp_client_operation_duration_count\{.*mcp_method_name="tools\/list".*\} 1$/m);
  });

  it("a stdio backend: the CLIENT span says pipe and names the executable", async () => {
    const url = `${gw.url}/mcp/local`;
    const sid = await helpers.openSession(url);
    const h = { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    const call = { jsonrpc: "2.0", id: 11, method: "tools/call", params: { name: "echo", arguments: { text: "over a pipe" } } };
    const r = await helpers.post(url, call, h);
    expect(r.status).toBe(200);
    await r.text();
    const client = (await exportedSpan(
      (s) => s.kind === KIND.CLIENT && attr(s, "mcp_gateway.server") === "local" && attr(s, "jsonrpc.request.id") === "11",
    ))!;
    expect(client.name).toBe("tools/call echo");
    expect(attr(client, "network.transport")).toBe("pipe");
    expect(attr(client, "mcp_gateway.upstream.transport")).toBe("stdio");
    expect(attr(client, "process.executable.name")).toBe(basename(helpers.stdioDemo().command));
    expect(attr(client, "process.executable.path")).toBe(helpers.stdioDemo().command);
    expect(attr(client, "server.address")).toBeUndefined();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(
      /^mcp_client_operation_duration_count\{(?=.*network_transport="pipe")(?=.*mcp_gateway_server="local")[^}]*\} 1$/m,
    );
    await fetch(url, { method: "DELETE", headers: h });
  });

  it("a log line about a request carries its trace: trace.id and the gateway's span.id", async () => {
    const clientTrace = "0af7651916cd43dd8448eb211c80319c";
    const r = await helpers.post(`${gw.url}/mcp/dead`, helpers.INIT, { traceparent: `00-${clientTrace}-b7ad6b7169203331-01` });
    await r.text();
    const line = gw.logs.map((l) => JSON.parse(l) as Record<string, string>).find((l) => l.message === "backend call failed")!;
    expect(line).toBeDefined();
    expect(line["trace.id"]).toBe(clientTrace);
    // The span it names is exported: the CLIENT span of the failed backend call.
    const client = await exportedSpan((s) => s.kind === KIND.CLIENT && s.traceId === clientTrace);
    expect(line["span.id"]).toBe(client!.spanId);
  });
});
