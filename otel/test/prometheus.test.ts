// GET /metrics through the handler the gateway mounts: the MCP histograms and gateway counters appear
// in Prometheus text format after traffic.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channels } from "../../gateway/src/diagnostics.ts";
import { startTelemetry, type Telemetry } from "../../gateway/src/otel/index.ts";
import { ALLOW, AUTHN, CREDS, exchange, realisticSession, rpc, send } from "./helpers/synthetic.ts";

let t: Telemetry;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  t = startTelemetry({ otlp: { traces: false, metrics: false }, prometheus: { enabled: true } });
  const handler = t.metricsHandler!;
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") handler(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise<void>((r) => server.close(() => r()));
});
afterAll(async () => {
  await t.shutdown();
  await close();
});

describe("/metrics", () => {
  it("exposes the MCP duration histograms and the gateway counters after traffic", async () => {
    realisticSession();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^mcp_server_operation_duration_bucket\{.*mcp_method_name="tools\/call".*le="0\.01"\} \d+/m);
    expect(text).toMatch(/^mcp_client_operation_duration_count\{.*server_address="backend\.internal".*\} \d+/m);
    expect(text).toMatch(
      /^mcp_server_session_duration_sum\{mcp_gateway_server="servicenow",mcp_gateway_session_end_reason="deleted"\} 1\.5$/m,
    );
    expect(text).toMatch(/^mcp_gateway_authz_decisions_total\{.*mcp_gateway_authz_decision="deny".*\} 1$/m);
    expect(text).toMatch(/^mcp_gateway_upstream_errors_total\{error_type="UPSTREAM_UNAVAILABLE",mcp_gateway_server="servicenow"\} 1$/m);
    expect(text).toMatch(/^mcp_gateway_upstream_errors_total\{error_type="-32603",mcp_gateway_server="servicenow"\} 1$/m);
    expect(text).toMatch(/^mcp_gateway_credentials_lookups_total\{.*mcp_gateway_credentials_cache="hit".*\} \d+/m);
    expect(text).toMatch(/^mcp_gateway_sessions_active\{mcp_gateway_server="servicenow"\} 0$/m);
    // Names: dots become underscores, counters get _total; this exporter adds no unit suffix.
    // The denied call is in the server histogram with its error.type.
    expect(text).toMatch(
      /^mcp_server_operation_duration_count\{(?=.*error_type="-32080")(?=.*gen_ai_tool_name="delete_everything")[^}]*\} 1$/m,
    );
  });

  it("sessions.active follows sessions that expire without a DELETE, and ignores ends of sessions it never saw open", async () => {
    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    const active = (text: string) => /^mcp_gateway_sessions_active\{mcp_gateway_server="expiry"\} (-?\d+)$/m.exec(text)?.[1];
    channels.session.publish({ server: "expiry", sessionId: "s-expires", kind: "opened", expiresAt: Date.now() + 150 });
    channels.session.publish({ server: "expiry", sessionId: "s-deleted", kind: "opened", expiresAt: Date.now() + 60_000 });
    // Opened on another replica (or before a restart): its end must not push the gauge below zero.
    channels.session.publish({ server: "expiry", sessionId: "s-elsewhere", kind: "closed", durationMs: 1000, reason: "deleted" });
    expect(active(await scrape())).toBe("2");
    channels.session.publish({ server: "expiry", sessionId: "s-deleted", kind: "closed", durationMs: 10, reason: "deleted" });
    expect(active(await scrape())).toBe("1");
    // Bounded wait for the expiry timer (due 150 ms after open).
    let text = "";
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      text = await scrape();
      if (active(text) === "0") break;
    }
    expect(active(text)).toBe("0");
    expect(text).toMatch(/^mcp_server_session_duration_count\{mcp_gateway_server="expiry",mcp_gateway_session_end_reason="expired"\} 1$/m);
    expect(text).toMatch(/^mcp_server_session_duration_count\{mcp_gateway_server="expiry",mcp_gateway_session_end_reason="deleted"\} 2$/m);
    expect(text).toMatch(/^mcp_client_session_duration_count\{mcp_gateway_server="expiry",mcp_gateway_session_end_reason="expired"\} 1$/m);
  });

  it("points of one turn on shared attribute sets add up as points recorded one by one would (counters summed per turn)", async () => {
    const scrape = async () => (await fetch(`${base}/metrics`)).text();
    const before = await scrape();
    const value = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const allow =
      /^mcp_gateway_authz_decisions_total\{(?=.*mcp_gateway_authz_decision="allow")(?=.*mcp_gateway_server="turns")[^}]*\} (\d+)$/m;
    const creds =
      /^mcp_gateway_credentials_lookups_total\{(?=.*mcp_gateway_credentials_cache="miss")(?=.*mcp_gateway_server="turns")[^}]*\} (\d+)$/m;
    const count =
      /^mcp_server_operation_duration_count\{(?=.*gen_ai_tool_name="tally")(?=.*mcp_gateway_server="turns")(?!.*error_type)[^}]*\} (\d+)$/m;
    const failed = /^mcp_server_operation_duration_count\{(?=.*gen_ai_tool_name="tally")(?=.*error_type="-32603")[^}]*\} (\d+)$/m;
    // 40 calls in one turn (30 ok, 10 failing), then 7 more in the next turns.
    for (let i = 0; i < 40; i++) tally(i, i % 4 === 3);
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 7; i++) {
      tally(100 + i, false);
      await new Promise((r) => setImmediate(r));
    }
    const text = await scrape();
    expect(value(text, allow) - value(before, allow)).toBe(47);
    expect(value(text, creds) - value(before, creds)).toBe(47);
    expect(value(text, count) - value(before, count)).toBe(37);
    expect(value(text, failed) - value(before, failed)).toBe(10);
  });
});

function tally(id: number, fail: boolean): void {
  send({
    ex: exchange({ server: "turns" }),
    msg: rpc({ id, method: "tools/call", params: { name: "tally", arguments: {} } }),
    stages: [AUTHN, ALLOW, CREDS],
    upstream: { httpStatus: 200 },
    response: fail ? { error: { code: -32603, message: "boom" } } : { result: { content: [] } },
  });
}
