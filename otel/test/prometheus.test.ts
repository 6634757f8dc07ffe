// GET /metrics through the handler the gateway mounts: the MCP histograms and gateway counters appear
// in Prometheus text format after traffic.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { channels } from "../../gateway/src/diagnostics.ts";
import { startTelemetry, type Telemetry } from "../../gateway/src/otel/index.ts";
import { realisticSession } from "./helpers/synthetic.ts";

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
});
