// Cost per message of the diagnostics subscribers (telemetry at 100 % sampling, audit, both), measured
// by publishing one tools/call's events in a loop, as relay.ts publishes them. Run: node otel/bench/subscriber-cost.ts
// The OTLP receiver runs in a child process (its parsing is not this process's cost) and counts the spans it
// got, so a cheaper run that dropped spans shows as such; CPU is this process's user+system time per message.

import { fork } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import type { Exchange } from "../../gateway/src/chain/types.ts";
import { toMessage } from "../../gateway/src/codec/jsonrpc.ts";
import { channels, type MessageEvent, type StageEvent, type UpstreamEvent } from "../../gateway/src/diagnostics.ts";
import { createAuditSink, startAudit } from "../../gateway/src/log/audit.ts";
import { startTelemetry } from "../../gateway/src/otel/index.ts";

const N = Number(process.env.BENCH_MESSAGES ?? 20_000);
const YIELD_EVERY = 64;

const principal = { sub: "alice", iss: "https://idp", clientId: "agent", groups: ["sre"], scopes: [], amr: [], claims: {} };
const SID = "g1.c2VhbGVkLXNlc3Npb24tdG9rZW4tdGhhdC1tdXN0LW5ldmVyLWFwcGVhcg";

function exchangeFor(i: number): Exchange {
  const raw = {
    jsonrpc: "2.0",
    id: i,
    method: "tools/call",
    params: { name: "create_incident", arguments: { summary: "x" }, _meta: { progressToken: i } },
  };
  return {
    server: "servicenow",
    downstream: "streamable-http",
    url: "/mcp/test",
    httpMethod: "POST",
    headers: { host: "127.0.0.1", "mcp-session-id": SID, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    clientAddress: "127.0.0.1",
    start: performance.now(),
    protocolVersion: "2025-06-18",
    messages: [toMessage(raw)],
    batch: false,
    principal,
    session: { srv: "servicenow", pv: "2025-06-18", exp: 2e9, up: "up-1", n: "n" },
    sessionId: SID,
    upstreamHeaders: {},
    upstreamEnv: {},
    vars: new Map(),
  };
}
const response = toMessage({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "ok" }] } });

function stage(
  ex: Exchange,
  msg: MessageEvent["message"] | undefined,
  name: string,
  filter: string,
  attributes?: StageEvent["attributes"],
) {
  // Exactly the chain's guard: no event object at all when nobody listens.
  if (!(channels.stageStart.hasSubscribers || channels.stageEnd.hasSubscribers)) return;
  const ev: StageEvent = { exchange: ex, filter, stage: name, message: msg, start: performance.now() };
  channels.stageStart.publish(ev);
  ev.end = performance.now();
  if (attributes) ev.attributes = attributes;
  channels.stageEnd.publish(ev);
}

/** One message's events; returns its synchronous cost in ns. */
function oneMessage(i: number): number {
  const t0 = process.hrtime.bigint();
  const ex = exchangeFor(i);
  const msg = ex.messages[0]!;
  stage(ex, undefined, "authn", "jwt", { method: "jwt", cache_hit: true });
  stage(ex, undefined, "session", "session");
  const traced = channels.messageStart.hasSubscribers || channels.messageEnd.hasSubscribers;
  let ev: MessageEvent | undefined;
  if (traced) {
    ev = { exchange: ex, message: msg, direction: "client-to-server", start: performance.now() };
    channels.messageStart.publish(ev);
  }
  stage(ex, msg, "authz", "opa", { decision: "allow", engine: "wasm", cache_hit: true });
  stage(ex, msg, "credentials", "vault", { source: "vault", cache_hit: true });
  let up: UpstreamEvent | undefined;
  if (channels.upstreamStart.hasSubscribers) {
    up = {
      exchange: ex,
      server: "servicenow",
      transport: "streamable-http",
      address: "backend:8443",
      messages: ev ? [ev] : [],
      start: performance.now(),
    };
    channels.upstreamStart.publish(up);
  }
  if (up) {
    up.end = performance.now();
    up.httpStatus = 200;
    channels.upstreamEnd.publish(up);
  }
  if (ev) {
    ev.end = performance.now();
    ev.response = response;
    channels.messageEnd.publish(ev);
  }
  return Number(process.hrtime.bigint() - t0);
}

async function run(label: string, setup: () => Promise<() => Promise<void>>) {
  const stop = await setup();
  const samples = new Float64Array(N);
  // Warm-up (JIT), not measured.
  for (let i = 0; i < 2000; i++) {
    oneMessage(i);
    if (i % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }
  const spans0 = await receiverCount();
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    samples[i] = oneMessage(i);
    // Let the batch exporter and the audit writer run, as they would between real requests.
    if (i % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }
  await stop(); // includes the final flush/export: background cost is in the wall time
  const wallNs = Number(process.hrtime.bigint() - wall0);
  const cpu = process.cpuUsage(cpu0);
  const spans = (await receiverCount()) - spans0;
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 1000;
  const cpuPerMsg = (cpu.user + cpu.system) / N;
  const row = { label, p50: q(0.5), p90: q(0.9), p99: q(0.99), wallPerMsg: wallNs / N / 1000, cpuPerMsg, spans };
  console.log(
    `${label.padEnd(34)} p50 ${row.p50.toFixed(1).padStart(6)} µs  p90 ${row.p90.toFixed(1).padStart(6)} µs  p99 ${row.p99.toFixed(1).padStart(7)} µs  wall/msg (incl. export) ${row.wallPerMsg.toFixed(1).padStart(6)} µs  CPU/msg ${cpuPerMsg.toFixed(1).padStart(6)} µs  spans received ${spans}`,
  );
  return row;
}

const sink = new Writable({ write: (_c, _e, cb) => cb() });

let rx: ReturnType<typeof fork> | undefined;
async function receiverCount(): Promise<number> {
  if (!rx) return 0;
  const r = rx;
  return new Promise((resolve) => {
    r.once("message", (m: { count: number }) => resolve(m.count));
    r.send("count");
  });
}

// The receiver, in a child process: counts the spans of each OTLP/JSON (or, by size, protobuf) request.
if (process.argv[2] === "--receiver") {
  let count = 0;
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/traces" && String(req.headers["content-type"]).includes("json")) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }>;
        };
        for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) count += ss.spans?.length ?? 0;
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  srv.listen(0, "127.0.0.1", () => process.send!({ port: (srv.address() as AddressInfo).port }));
  process.on("message", () => process.send!({ count }));
  process.on("disconnect", () => process.exit(0));
} else {
  await main();
}

async function main(): Promise<void> {
  rx = fork(new URL(import.meta.url).pathname, ["--receiver"], { stdio: "inherit" });
  const port = await new Promise<number>((r) => rx!.once("message", (m: { port: number }) => r(m.port)));
  const endpoint = `http://127.0.0.1:${port}`;

  console.log(
    `${N} tools/call messages, 5 spans each at 100 % sampling (SERVER, authn, authz, credentials, CLIENT; the silent session stage makes none; 2 without stage spans), node ${process.version}`,
  );
  const off = await run("telemetry off (no subscribers)", async () => async () => {});
  const tel = await run("telemetry on, 100 %, OTLP + /metrics", async () => {
    const t = startTelemetry({ otlp: { endpoint, metrics: false }, prometheus: { enabled: true }, sampler: { ratio: 1 } });
    return () => t.shutdown();
  });
  const lean = await run("telemetry on, 100 %, no stage spans", async () => {
    const t = startTelemetry({
      otlp: { endpoint, metrics: false },
      prometheus: { enabled: true },
      sampler: { ratio: 1 },
      stageSpans: false,
    });
    return () => t.shutdown();
  });
  const aud = await run("audit only (stream sink)", async () => {
    const s = createAuditSink({ stream: sink });
    const stop = startAudit(s);
    return async () => {
      stop();
      await s.close();
    };
  });
  const both = await run("telemetry + audit", async () => {
    const t = startTelemetry({ otlp: { endpoint, metrics: false }, prometheus: { enabled: true }, sampler: { ratio: 1 } });
    const s = createAuditSink({ stream: sink });
    const stop = startAudit(s);
    return async () => {
      stop();
      await Promise.all([t.shutdown(), s.close()]);
    };
  });
  console.log("");
  console.log(`spans produced per telemetry run, warm-up included: ${(N + 2000) * 5} (${(N + 2000) * 2} without stage spans)`);
  for (const r of [tel, lean, aud, both]) {
    console.log(
      `${r.label.padEnd(34)} overhead p50 ${(r.p50 - off.p50).toFixed(1)} µs/message, wall ${(r.wallPerMsg - off.wallPerMsg).toFixed(1)} µs/message, CPU ${(r.cpuPerMsg - off.cpuPerMsg).toFixed(1)} µs/message, ${r.spans} spans received`,
    );
  }
  rx.disconnect();
}
