// Keeps the benchmark harness from rotting: a very short run of the real harness (processes, sessions, verified load),
// direct plus the gateway's HTTP route when the gateway CLI exists. Figures are not checked, only that answers verify.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startFastBackend } from "../fast-backend.ts";
import { checkReply, echoText } from "../load.ts";
import { formatReport, openSession, runBench, type ScenarioName } from "../run.ts";

const cli = join(import.meta.dirname, "..", "..", "gateway", "src", "cli.ts");

describe("bench harness", () => {
  it("checkReply accepts the echo and rejects wrong answers", () => {
    const text = echoText(16);
    const good = JSON.stringify({ jsonrpc: "2.0", id: 7, result: { content: [{ type: "text", text }] } });
    expect(checkReply(200, good, 7, text)).toBeUndefined();
    expect(checkReply(200, `event: message\ndata: ${good}\n\n`, 7, text)).toBeUndefined();
    expect(checkReply(500, good, 7, text)).toMatch(/status 500/);
    expect(checkReply(200, good, 8, text)).toMatch(/id 8/);
    expect(checkReply(200, good.replace(text, "nope"), 7, text)).toMatch(/wrong result/);
    expect(checkReply(200, "{not json", 7, text)).toMatch(/unparsable/);
  });

  it("the fast backend enforces its session", async () => {
    const b = await startFastBackend();
    try {
      const headers = await openSession(b.url, 64);
      expect(headers["mcp-session-id"]).toMatch(/^[0-9a-f-]{36}$/);
      await expect(openSession(b.url.replace("/mcp", "/nope"), 64)).rejects.toThrow(/HTTP 404/);
    } finally {
      await b.close();
    }
  });

  it("runs direct (and gateway → fast when the gateway exists) with zero errors", async () => {
    const scenarios: ScenarioName[] = existsSync(cli) ? ["direct", "gateway-http"] : ["direct"];
    const lines: string[] = [];
    const report = await runBench({
      durationSeconds: 0.5,
      warmupSeconds: 0.2,
      concurrency: [1, 4],
      rates: [500],
      rateConnections: 4,
      scenarios,
      // Unpinned: other test workers share the machine; this checks the harness, not the figures.
      pin: false,
      textBytes: 1024,
      gatewayCli: cli,
      outFile: undefined,
      waitQuietSeconds: 0,
      log: (l) => lines.push(l),
    });
    const table = formatReport(report);
    expect(report.rows, table).toHaveLength(scenarios.length * 3);
    for (const r of report.rows) {
      expect(r.failure, table).toBeUndefined();
      expect(r.errors, table).toBe(0);
      expect(r.ok, table).toBeGreaterThan(0);
      expect(r.p50, table).toBeGreaterThan(0);
    }
    if (scenarios.includes("gateway-http")) expect(report.rows.find((r) => r.scenario === "gateway-http")?.addedP50Ms).toBeTypeOf("number");
    expect(table).toContain("result: OK");
  });
});
