// What the REST bridge adds over MCP through the same gateway: tools/call echo (1 KiB) as MCP JSON-RPC to
// /mcp/fast versus POST /api/v1/mcp/fast/tools/echo, interleaved rounds at c=1, p50. No target: a figure to watch.
// Run: `node bench/rest-bridge.ts` (BENCH_ROUNDS, BENCH_CALLS).

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { startFastBackend } from "./fast-backend.ts";

const here = dirname(fileURLToPath(import.meta.url));
const TEXT = "x".repeat(1024);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function main(): Promise<void> {
  const backend = await startFastBackend();
  const dir = mkdtempSync(join(tmpdir(), "bench-bridge-"));
  const cfg = join(dir, "gateway.yaml");
  writeFileSync(
    cfg,
    [
      "listen: { host: 127.0.0.1, port: 0 }",
      `sessions: { key: ${JSON.stringify(randomBytes(24).toString("hex"))} }`,
      "logging: { level: warn }",
      "telemetry: { audit: { enabled: false } }",
      "restBridge: { enabled: true }",
      "servers:",
      `  fast: { url: ${JSON.stringify(backend.url)} }`,
      "",
    ].join("\n"),
  );
  const child = spawn(process.execPath, [join(here, "../gateway/src/cli.ts"), "--config", cfg], { stdio: ["ignore", "pipe", "pipe"] });
  const base = await new Promise<string>((resolve, reject) => {
    let out = "";
    const on = (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.once("exit", (c) => reject(new Error(`gateway exited ${c}: ${out.slice(-500)}`)));
  });
  const pool = new Pool(base, { connections: 1 });
  const mcpHeaders = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  const init = await pool.request({
    path: "/mcp/fast",
    method: "POST",
    headers: mcpHeaders,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } },
    }),
  });
  const sid = String(init.headers["mcp-session-id"]);
  await init.body.text();
  const withSession = { ...mcpHeaders, "mcp-session-id": sid };
  await (
    await pool.request({
      path: "/mcp/fast",
      method: "POST",
      headers: withSession,
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    })
  ).body.text();
  async function viaMcp(id: number): Promise<number> {
    const t = performance.now();
    const r = await pool.request({
      path: "/mcp/fast",
      method: "POST",
      headers: withSession,
      body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text: TEXT } } }),
    });
    const v = (await r.body.json()) as { result?: { content?: { text: string }[] } };
    if (v.result?.content?.[0]?.text !== TEXT) throw new Error("mcp: bad answer");
    return performance.now() - t;
  }
  async function viaRest(): Promise<number> {
    const t = performance.now();
    const r = await pool.request({
      path: "/api/v1/mcp/fast/tools/echo",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ arguments: { text: TEXT } }),
    });
    const v = (await r.body.json()) as { text: string }[];
    if (r.statusCode !== 200 || v[0]?.text !== TEXT) throw new Error(`rest: bad answer ${r.statusCode}`);
    return performance.now() - t;
  }
  const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
  const calls = Number(process.env.BENCH_CALLS ?? 500);
  for (let i = 0; i < 300; i++) {
    await viaMcp(i);
    await viaRest();
  }
  const m: number[] = [];
  const r: number[] = [];
  const deltas: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const rm: number[] = [];
    const rr: number[] = [];
    for (let i = 0; i < calls; i++) rm.push(await viaMcp(i));
    for (let i = 0; i < calls; i++) rr.push(await viaRest());
    rm.sort((a, b) => a - b);
    rr.sort((a, b) => a - b);
    deltas.push(pct(rr, 0.5) - pct(rm, 0.5));
    m.push(...rm);
    r.push(...rr);
  }
  m.sort((a, b) => a - b);
  r.sort((a, b) => a - b);
  deltas.sort((a, b) => a - b);
  console.log(
    `REST bridge vs MCP through the same gateway (c=1, ${rounds}×${calls} interleaved, load ${loadavg()[0]!.toFixed(1)}): ` +
      `p50 ${pct(r, 0.5).toFixed(3)} vs ${pct(m, 0.5).toFixed(3)} ms (×${(pct(r, 0.5) / pct(m, 0.5)).toFixed(2)}); ` +
      `per-round +p50 median ${pct(deltas, 0.5).toFixed(3)} ms (range ${deltas[0]!.toFixed(3)}..${deltas.at(-1)!.toFixed(3)}); ` +
      `p99 ${pct(r, 0.99).toFixed(3)} vs ${pct(m, 0.99).toFixed(3)} ms`,
  );
  await pool.close();
  child.kill();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
