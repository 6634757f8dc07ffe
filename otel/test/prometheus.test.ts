// GET /metrics through the handler the gateway mounts: the MCP histograms and gateway counters appear
// in Prometheus text format after traffic.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTelemetry, type Telemetry } from "../src/index.ts";
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
    expect(text).toMatch(/^mcp_server_session_duration_sum\{mcp_gateway_server="servicenow"\} 1\.5$/m);
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
});
