// Invariant 4 end to end on the synthetic session: no bearer token, Secret value, session id or (unless
// configured) argument/result value appears in any exported span, OTLP metric, /metrics line, audit or log line.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../gateway/src/config/secret.ts";
import { channels } from "../../gateway/src/diagnostics.ts";
import { createAuditSink, startAudit } from "../../gateway/src/log/audit.ts";
import { createLogger } from "../../gateway/src/log/logger.ts";
import { startTelemetry } from "../../gateway/src/otel/index.ts";
import { attr, KIND, type Receiver, startReceiver } from "./helpers/otlp-receiver.ts";
import { BEARER, exchange, realisticSession, SESSION_ID } from "./helpers/synthetic.ts";

const NEVER = [
  BEARER,
  SESSION_ID,
  "backend-session-1",
  "hunter2-do-not-log",
  "sk-live-abcdefghijklmnopqrstuvwxyz",
  "printer on fire",
  "secret-result-value",
  "yes-really-delete",
  "otlp-header-secret",
];

let rx: Receiver;
beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
});

function collect() {
  const out: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (c: Buffer) => out.push(c.toString("utf8")));
  return { stream, text: () => out.join("") };
}

async function scrape(
  handler: (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void,
): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    return await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe("secret scan", () => {
  it("finds nothing secret in spans, metrics, /metrics, audit or logs (defaults)", async () => {
    const audit = collect();
    const logs = collect();
    const sink = createAuditSink({ stream: audit.stream });
    const stopAudit = startAudit(sink);
    const logger = createLogger({ level: "debug", stream: logs.stream });
    const t = startTelemetry({
      otlp: { endpoint: rx.url, headers: { "x-api-key": new Secret("otlp-header-secret") } },
      prometheus: { enabled: true },
      batch: { scheduledDelayMillis: 20 },
      logger,
    });
    try {
      realisticSession({ inboundTraceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" });
      // Things a careless caller might log or publish.
      const ex = exchange({ sessionId: SESSION_ID });
      logger.info("request", { "http.request.headers": ex.headers, "mcp_gateway.session": SESSION_ID, "mcp-session-id": SESSION_ID });
      logger.warn(`upstream said: invalid token Bearer ${BEARER}`);
      channels.error.publish({ server: "servicenow", code: "INVALID_TOKEN", detail: `token Bearer ${BEARER} expired`, exchange: ex });
      await t.forceFlush();
      const prom = await scrape(t.metricsHandler!);
      await sink.flush();
      const haystacks = {
        spans: rx.bodies.join("\n"),
        otlpMetrics: rx.metricBodies.join("\n"),
        prometheus: prom,
        audit: audit.text(),
        logs: logs.text(),
      };
      expect(rx.spans.length).toBeGreaterThan(20);
      expect(haystacks.otlpMetrics.length).toBeGreaterThan(100);
      for (const [where, text] of Object.entries(haystacks)) {
        for (const needle of NEVER) expect(text.includes(needle), `${needle} leaked into ${where}`).toBe(false);
      }
    } finally {
      await t.shutdown();
      stopAudit();
      rx.spans.length = 0;
      rx.bodies.length = 0;
      rx.metricBodies.length = 0;
    }
  });

  it("records arguments on spans only when configured, with redaction paths and secret-named keys hidden", async () => {
    const t = startTelemetry({
      otlp: { endpoint: rx.url, metrics: false },
      batch: { scheduledDelayMillis: 20 },
      recordArguments: true,
      recordResults: true,
      redact: ["$.arguments.summary", "$..text"],
    });
    try {
      realisticSession();
      await t.forceFlush();
      const text = rx.bodies.join("\n");
      for (const needle of ["printer on fire", "hunter2-do-not-log", "sk-live-abcdefghijklmnopqrstuvwxyz", "secret-result-value", BEARER]) {
        expect(text.includes(needle), needle).toBe(false);
      }
      const denied = rx.spans.find((s) => s.kind === KIND.SERVER && s.name === "tools/call delete_everything")!;
      expect(JSON.parse(String(attr(denied, "gen_ai.tool.call.arguments")))).toEqual({ confirm: "yes-really-delete" });
      const call = rx.spans.find((s) => s.kind === KIND.SERVER && attr(s, "jsonrpc.request.id") === "2")!;
      expect(JSON.parse(String(attr(call, "gen_ai.tool.call.arguments")))).toEqual({
        summary: "[REDACTED]",
        password: "[REDACTED]",
        apiKey: "[REDACTED]",
      });
      expect(JSON.parse(String(attr(call, "gen_ai.tool.call.result")))).toEqual({ content: [{ type: "text", text: "[REDACTED]" }] });
    } finally {
      await t.shutdown();
    }
  });
});
