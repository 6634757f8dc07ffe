// The audit sink (gateway/src/log/audit.ts): one ECS record per message from the diagnostics events,
// the same trace.id as the spans, decisions and outcomes, opt-in arguments, and size-based rotation.

import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type AuditRecord, createAuditSink, startAudit } from "../../gateway/src/log/audit.ts";
import { StreamLineWriter } from "../../gateway/src/log/line-writer.ts";
import { hashSessionId } from "../../gateway/src/log/message-facts.ts";
import { startTelemetry } from "../../gateway/src/otel/index.ts";
import { realisticSession, SESSION_ID } from "./helpers/synthetic.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function streamSink() {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (c: Buffer) => lines.push(...c.toString("utf8").split("\n").filter(Boolean)));
  const sink = createAuditSink({ stream });
  return { sink, lines, records: () => lines.map((l) => JSON.parse(l) as AuditRecord) };
}

describe("audit records", () => {
  it("one record per message with who, server, method, target, decision, outcome, latency", async () => {
    const { sink, records } = streamSink();
    cleanups.push(startAudit(sink));
    realisticSession();
    await sink.flush();
    const recs = records();
    // initialize, initialized, tools/list, 3× tools/call, prompts/get; progress is excluded by default.
    expect(recs.map((r) => r["event.action"])).toEqual([
      "initialize",
      "notifications/initialized",
      "tools/list",
      "tools/call",
      "tools/call",
      "tools/call",
      "prompts/get",
    ]);
    const allowed = recs[3]!;
    expect(allowed).toMatchObject({
      "event.kind": "event",
      "event.dataset": "mcp_gateway.audit",
      "event.outcome": "success",
      "user.id": "alice",
      "mcp_gateway.principal.iss": "https://idp.example.com",
      "mcp_gateway.principal.client_id": "agent-42",
      "mcp_gateway.principal.groups": ["sre", "oncall"],
      "client.address": "127.0.0.1",
      "mcp_gateway.server": "servicenow",
      "mcp.method.name": "tools/call",
      "gen_ai.tool.name": "create_incident",
      "jsonrpc.request.id": "2",
      "mcp.protocol.version": "2025-06-18",
      "mcp.session.id": hashSessionId(SESSION_ID),
      "mcp_gateway.authz.decision": "allow",
      "mcp_gateway.authz.reason": "sre may call create_incident",
      "mcp_gateway.authz.engine": "wasm",
      "mcp_gateway.outcome": "ok",
    });
    expect(allowed["mcp_gateway.latency_ms"]).toBeGreaterThanOrEqual(0);
    // ECS event.duration is in nanoseconds; latency_ms is rounded to the microsecond.
    expect(Math.abs(allowed["event.duration"] - allowed["mcp_gateway.latency_ms"] * 1e6)).toBeLessThan(1000);
    expect(allowed["mcp_gateway.arguments"]).toBeUndefined();
    expect(Date.parse(allowed["@timestamp"])).toBeGreaterThan(Date.now() - 60_000);

    expect(recs[4]).toMatchObject({
      "gen_ai.tool.name": "delete_everything",
      "event.outcome": "failure",
      "mcp_gateway.authz.decision": "deny",
      "mcp_gateway.authz.reason": "tool not permitted for group sre",
      "mcp_gateway.refused_by": "authz",
      "mcp_gateway.outcome": "-32080",
      "error.code": "AUTHZ_DENIED",
    });
    expect(recs[5]).toMatchObject({ "mcp_gateway.outcome": "-32603", "event.outcome": "failure" });
    expect(recs[6]).toMatchObject({
      "gen_ai.prompt.name": "triage",
      "mcp_gateway.outcome": "-32090",
      "error.code": "UPSTREAM_UNAVAILABLE",
    });
    // initialize has no session yet; no record carries the raw session id.
    expect(recs[0]!["mcp.session.id"]).toBeUndefined();
    expect(JSON.stringify(recs)).not.toContain(SESSION_ID);
  });

  it("carries the span's trace id when telemetry runs, the caller's otherwise", async () => {
    const { sink, records } = streamSink();
    cleanups.push(startAudit(sink));
    const inbound = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    realisticSession({ inboundTraceparent: inbound });
    await sink.flush();
    const noOtel = records();
    expect(noOtel[3]!["trace.id"]).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(noOtel[2]!["trace.id"]).toBeUndefined();

    const tel = startTelemetry({ otlp: { traces: false, metrics: false } });
    cleanups.push(() => tel.shutdown());
    const { results } = realisticSession();
    await sink.flush();
    const withOtel = records().slice(noOtel.length);
    const fromSpan = (i: number) => results[i]!.ev.propagation!.traceparent!.slice(3, 35);
    expect(withOtel[2]!["trace.id"]).toBe(fromSpan(2));
    expect(withOtel[3]!["trace.id"]).toBe(fromSpan(3));
  });

  it("records arguments and results only when configured, with JSON-path redaction", async () => {
    const { sink, records } = streamSink();
    cleanups.push(
      startAudit(sink, { recordArguments: true, recordResults: true, redact: ["$.arguments.summary", "$.result.content[*].text"] }),
    );
    realisticSession();
    await sink.flush();
    const recs = records();
    const call = recs.find((r) => r["jsonrpc.request.id"] === "2")!;
    expect(JSON.parse(call["mcp_gateway.arguments"]!)).toEqual({ summary: "[REDACTED]", password: "[REDACTED]", apiKey: "[REDACTED]" });
    expect(JSON.parse(call["mcp_gateway.result"]!)).toEqual({ content: [{ type: "text", text: "[REDACTED]" }] });
    const denied = recs.find((r) => r["jsonrpc.request.id"] === "3")!;
    expect(JSON.parse(denied["mcp_gateway.arguments"]!)).toEqual({ confirm: "yes-really-delete" });
  });

  it("stops cleanly: no subscriber left behind", async () => {
    const { sink } = streamSink();
    const { channels } = await import("../../gateway/src/diagnostics.ts");
    const stop = startAudit(sink);
    expect(channels.messageEnd.hasSubscribers).toBe(true);
    stop();
    expect(channels.messageEnd.hasSubscribers).toBe(false);
  });
});

describe("file sink with size-based rotation", () => {
  it("rotates before a file would exceed maxBytes, keeps maxFiles, never splits a record", async () => {
    const dir = await mkdtemp(join(tmpdir(), "audit-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "audit.log");
    const sink = createAuditSink({ sink: "file", path, maxBytes: 4096, maxFiles: 3 });
    cleanups.push(startAudit(sink));
    for (let i = 0; i < 12; i++) {
      realisticSession();
      await sink.flush();
    }
    await sink.close();
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]);
    let total = 0;
    for (const f of files) {
      const text = await readFile(join(dir, f), "utf8");
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
      expect(text.endsWith("\n")).toBe(true);
      for (const line of text.split("\n").filter(Boolean)) {
        expect(JSON.parse(line)["event.dataset"]).toBe("mcp_gateway.audit");
        total++;
      }
    }
    expect(total).toBeGreaterThan(10);
    expect(sink.dropped).toBe(0);
  });

  it("one write in flight: lines queued meanwhile go out together, in order, and flush waits for them", async () => {
    const chunks: string[] = [];
    // A slow pipe: every write is taken only after 20 ms (backpressure: the buffer holds one byte).
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk.toString("utf8"));
        setTimeout(cb, 20);
      },
    });
    const w = new StreamLineWriter(slow);
    w.write("0\n");
    await new Promise((r) => setImmediate(r)); // the first write is now in flight
    for (let i = 1; i <= 200; i++) {
      w.write(`${i}\n`);
      if (i % 10 === 0) await new Promise((r) => setImmediate(r)); // many event-loop turns while it is slow
    }
    await w.flush();
    expect(chunks.join("")).toBe(Array.from({ length: 201 }, (_, i) => `${i}\n`).join(""));
    // 21 turns queued lines while the first write was slow: they went out as one write, not 20.
    expect(chunks.length).toBeLessThanOrEqual(3);
    await w.close();
  });
});
