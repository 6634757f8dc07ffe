// Benchmark of the OpenAPI adapter: building GitHub's tool list (time and peak RSS, fresh process each time),
// and what a tools/call through the adapter adds over calling the REST API directly (interleaved rounds, p50).
// Run: `node bench/openapi-adapter.ts` (BENCH_ROUNDS, BENCH_CALLS, BENCH_BUILDS); BENCH_STRICT=1 fails on a missed target.

import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const github = join(root, ".cache/openapi-fixtures/github-23.0.2/api.github.com.json");
const ITEM = JSON.stringify({ id: 1, name: "widget", tags: ["a", "b"], price: 9.5, description: "x".repeat(200) });

/** A tiny REST API described by API_DOC: GET /items/{id} answers one JSON object. */
const API_DOC = {
  openapi: "3.1.0",
  info: { title: "items", version: "1" },
  paths: {
    "/items/{id}": {
      get: {
        operationId: "getItem",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "integer" } }],
        responses: {
          "200": {
            description: "ok",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: { id: { type: "integer" }, name: { type: "string" }, tags: { type: "array", items: { type: "string" } } },
                },
              },
            },
          },
        },
      },
    },
  },
};

async function roleBuild(): Promise<void> {
  const { buildToolsFromDocument } = await import("../adapters/openapi/src/index.ts");
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const built = await buildToolsFromDocument(github, { validateDocument: process.env.BENCH_VALIDATE !== "0" });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  // CPU time too: on a shared, oversubscribed machine the wall time mostly measures the others.
  const cpuMs = (c.user + c.system) / 1000;
  process.stdout.write(JSON.stringify({ ms, cpuMs, tools: built.tools.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

async function roleApi(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(ITEM) }).end(ITEM);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
}

async function roleAdapter(apiUrl: string): Promise<void> {
  const { createOpenApiServer } = await import("../adapters/openapi/src/index.ts");
  const s = await createOpenApiServer({ document: API_DOC, options: { baseUrl: apiUrl } });
  process.stdout.write(`listening ${await s.listen()}\n`);
}

function start(args: string[]): Promise<{ url: string; kill(): void }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, kill: () => child.kill() });
    });
    child.once("exit", (c) => reject(new Error(`${args[0]} exited ${c}`)));
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function main(): Promise<void> {
  if (process.argv[2] === "--role-build") return roleBuild();
  if (process.argv[2] === "--role-api") return roleApi();
  if (process.argv[2] === "--role-adapter") return roleAdapter(process.argv[3]!);
  execFileSync("bash", [join(root, "adapters/openapi/scripts/install-test-fixtures.sh")], { stdio: "inherit" });

  const builds = Number(process.env.BENCH_BUILDS ?? 3);
  const runs: { ms: number; cpuMs: number; maxRssMB: number; tools: number }[] = [];
  for (let i = 0; i < builds; i++) {
    runs.push(JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--role-build"], { encoding: "utf8" })));
  }
  runs.sort((a, b) => a.ms - b.ms);
  const med = runs[Math.floor(runs.length / 2)]!;
  const rss = Math.max(...runs.map((r) => r.maxRssMB));
  const load = loadavg()[0]!.toFixed(1);
  console.log(
    `build GitHub (${med.tools} tools): median ${med.ms.toFixed(0)} ms wall (${med.cpuMs.toFixed(0)} ms CPU) of ` +
      `${runs.map((r) => r.ms.toFixed(0)).join(", ")}; peak RSS ${rss.toFixed(0)} MB; load average ${load}`,
  );

  const api = await start(["--role-api"]);
  const adapter = await start(["--role-adapter", api.url]);
  const direct = new Pool(api.url, { connections: 1 });
  const mcpUrl = new URL(adapter.url);
  const viaAdapter = new Pool(mcpUrl.origin, { connections: 1 });
  const callBody = (id: number) =>
    JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "getItem", arguments: { id: 7 } } });
  const headers = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  async function oneDirect(): Promise<number> {
    const t = performance.now();
    const r = await direct.request({ path: "/items/7", method: "GET", headers: { accept: "application/json" } });
    const v = (await r.body.json()) as { id: number };
    if (r.statusCode !== 200 || v.id !== 1) throw new Error("direct: bad answer");
    return performance.now() - t;
  }
  async function oneAdapter(id: number): Promise<number> {
    const t = performance.now();
    const r = await viaAdapter.request({ path: mcpUrl.pathname, method: "POST", headers, body: callBody(id) });
    const v = (await r.body.json()) as { result?: { structuredContent?: { id: number }; isError?: boolean } };
    if (r.statusCode !== 200 || v.result?.structuredContent?.id !== 1)
      throw new Error(`adapter: bad answer ${JSON.stringify(v).slice(0, 200)}`);
    return performance.now() - t;
  }
  const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
  const calls = Number(process.env.BENCH_CALLS ?? 500);
  for (let i = 0; i < 300; i++) {
    await oneDirect();
    await oneAdapter(i);
  }
  const d: number[] = [];
  const a: number[] = [];
  const deltas: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const rd: number[] = [];
    const ra: number[] = [];
    for (let i = 0; i < calls; i++) rd.push(await oneDirect());
    for (let i = 0; i < calls; i++) ra.push(await oneAdapter(i));
    rd.sort((x, y) => x - y);
    ra.sort((x, y) => x - y);
    deltas.push(pct(ra, 0.5) - pct(rd, 0.5));
    d.push(...rd);
    a.push(...ra);
  }
  d.sort((x, y) => x - y);
  a.sort((x, y) => x - y);
  deltas.sort((x, y) => x - y);
  const p50d = pct(d, 0.5);
  const p50a = pct(a, 0.5);
  console.log(
    `tools/call through the adapter vs GET direct (c=1, ${rounds}×${calls} interleaved): p50 ${p50a.toFixed(3)} vs ${p50d.toFixed(3)} ms ` +
      `(+${(p50a - p50d).toFixed(3)} ms, ×${(p50a / p50d).toFixed(2)}); per-round +p50 median ${pct(deltas, 0.5).toFixed(3)} ms ` +
      `(range ${deltas[0]!.toFixed(3)}..${deltas.at(-1)!.toFixed(3)}); p99 ${pct(a, 0.99).toFixed(3)} vs ${pct(d, 0.99).toFixed(3)} ms`,
  );
  await direct.close();
  await viaAdapter.close();
  adapter.kill();
  api.kill();
  const missed: string[] = [];
  if (med.ms > 2000) missed.push("build > 2 s");
  if (rss > 300) missed.push("build RSS > 300 MB");
  if (pct(deltas, 0.5) > 1) missed.push("call +p50 > 1 ms");
  console.log(missed.length ? `targets missed: ${missed.join(", ")}` : "targets (issue 16): met");
  if (missed.length && process.env.BENCH_STRICT === "1") process.exitCode = 2;
}

await main();
