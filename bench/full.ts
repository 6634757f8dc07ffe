// The full-pipeline bench (`npm run bench:full -w bench`): the gateway as production runs it (JWT against a JWKS discovered from a
// loopback issuer, the embedded OPA wasm policy, a Vault credential from a real `bao`, OTLP tracing + metrics at 100 %, audit file,
// decision log) against pass-through and each stage alone, at c=1/32/128, every answer verified, RSS, and 10,000 open sessions.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { findBao, startBao } from "../gateway/test/credentials/bao.ts";
import { startIdp } from "../gateway/test/fixtures/idp.ts";
import { checkReply, echoText, type LoadResult, type LoadSpec } from "./load.ts";

const HERE = import.meta.dirname;
const ROOT = resolve(HERE, "..");
const PROTOCOL_VERSION = "2025-06-18";
const SERVER_CORE = 0;
const LOAD_CORE = 1;
/** The credential the gateway reads from bao and injects; the backend answers 401 without it. */
const CREDENTIAL_HEADER = "x-api-key";
const AUDIENCE = "mcp-edge-bench";

/** What each scenario turns on. `direct` skips the gateway. */
interface Stages {
  jwt?: boolean;
  decisionLog?: boolean;
  vault?: boolean;
  otel?: boolean;
  audit?: boolean;
}
const SCENARIOS = {
  direct: { label: "direct → fast backend", stages: undefined },
  // One plain reverse-proxy hop (nginx, one worker, keep-alive upstream) when an nginx binary is found: the
  // yardstick the issue's targets are stated against. Skipped, and said so, without one.
  nginx: { label: "nginx (one proxy hop)", stages: undefined },
  pass: { label: "pass-through", stages: {} },
  "jwt+opa": { label: "JWT + OPA (no decision log)", stages: { jwt: true } },
  "jwt+opa+dlog": { label: "JWT + OPA + decision log", stages: { jwt: true, decisionLog: true } },
  vault: { label: "Vault credential alone", stages: { vault: true } },
  otel: { label: "tracing + metrics alone", stages: { otel: true } },
  audit: { label: "audit file alone", stages: { audit: true } },
  full: { label: "full", stages: { jwt: true, decisionLog: true, vault: true, otel: true, audit: true } },
} satisfies Record<string, { label: string; stages: Stages | undefined }>;
type ScenarioName = keyof typeof SCENARIOS;

const num = (v: string | undefined, d: number) => (v === undefined || v === "" || !Number.isFinite(Number(v)) ? d : Number(v));
const env = process.env;
const OPTS = {
  duration: num(env.BENCH_DURATION, 8),
  warmup: num(env.BENCH_WARMUP, 2),
  concurrency: (env.BENCH_CONCURRENCY ?? "1,32,128").split(",").map(Number),
  scenarios: (
    env.BENCH_SCENARIOS ??
    Object.keys(SCENARIOS)
      .filter((s) => s !== "nginx" || findNginx() !== undefined)
      .join(",")
  )
    .split(",")
    .map((s) => s.trim()) as ScenarioName[],
  /** Rounds over all scenarios, the order rotated each round (interleaved, for a noisy machine); medians and ranges reported. */
  rounds: num(env.BENCH_ROUNDS, 1),
  sessions: num(env.BENCH_SESSIONS, 10_000),
  textBytes: 1024,
  pin: env.BENCH_PIN !== "0",
  profileDir: env.BENCH_PROFILE || undefined,
  /** Which gateways BENCH_PROFILE profiles (comma list, or "all"); each writes into <dir>/<scenario>/. */
  profileScenarios: (env.BENCH_PROFILE_SCENARIOS ?? "full").split(",").map((x) => x.trim()),
  /** Extra node flags for the gateway (e.g. --trace-gc, --max-semi-space-size=…). */
  nodeArgs: (env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean),
  gatewayCli: env.BENCH_GATEWAY_CLI ?? join(ROOT, "gateway", "src", "cli.ts"),
  /** BENCH_MEM=1: the gateway runs with bench/mem-probe.mjs and the report adds heap used / total next to each RSS. */
  mem: env.BENCH_MEM === "1",
  /** A folder: the `full` gateway writes V8 heap snapshots there, after the load and once its sessions are open. */
  heapSnapshotDir: env.BENCH_HEAPSNAPSHOT || undefined,
  out: env.BENCH_OUT ?? join(HERE, "results", "full.json"),
};
for (const s of OPTS.scenarios)
  if (!(s in SCENARIOS)) throw new Error(`BENCH_SCENARIOS: unknown ${s} (known: ${Object.keys(SCENARIOS).join(", ")})`);
const log = (l: string) => process.stderr.write(`${l}\n`);

// ---------------------------------------------------------------------------------------------------------------------
// Processes

interface Proc {
  child: ChildProcess;
  ready: string;
  tail(): string;
  stop(): Promise<void>;
}

const pinned = (argv: string[], core: number | undefined) => (core === undefined ? argv : ["taskset", "-c", String(core), ...argv]);

function startProcess(name: string, argv: string[], readyRe: RegExp, extraEnv: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...extraEnv } });
  let out = "";
  let tail = "";
  const keep = (s: string) => {
    tail = (tail + s).slice(-4000);
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(t);
  };
  return new Promise((res, rej) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      void stop();
      rej(new Error(`${name}: ${why}\n${tail}`));
    };
    const timer = setTimeout(() => fail("not ready after 60 s"), 60_000);
    child.on("error", (e) => fail(e.message));
    child.on("exit", (c, s) => fail(`exited (${s ?? c}) before it was ready`));
    child.stderr!.setEncoding("utf8").on("data", keep);
    // stdout (the decision log goes there) is always drained, like a log shipper would.
    child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      keep(s);
      if (settled) return;
      out += s;
      const m = readyRe.exec(out);
      if (m) {
        settled = true;
        clearTimeout(timer);
        out = "";
        res({ child, ready: m[1]!, tail: () => tail, stop });
      }
    });
  });
}

/** utime + stime of a process in ms (Linux /proc; USER_HZ 100). */
function cpuMs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Run the load generator; `cpuOf` is the gateway's pid: its CPU time over the measured phase comes back as `cpuMs`. */
function runLoad(spec: LoadSpec, core: number | undefined, cpuOf?: number): Promise<LoadResult & { cpuMs?: number | undefined }> {
  const argv = pinned([process.execPath, join(HERE, "load.ts"), JSON.stringify({ ...spec, markMeasure: true })], core);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let cpu0: number | undefined;
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    if (cpu0 === undefined && s.includes("bench:measuring")) cpu0 = cpuMs(cpuOf);
    err = (err + s).slice(-4000);
  });
  return new Promise((res, rej) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), (spec.warmupSeconds + spec.durationSeconds + 60) * 1000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const cpu1 = cpuMs(cpuOf);
      const line = out.trim().split("\n").pop() ?? "";
      if (code === 0 && line.startsWith("{"))
        res({ ...(JSON.parse(line) as LoadResult), cpuMs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined });
      else rej(new Error(`load generator failed (${code}): ${err.trim() || out.trim()}`));
    });
  });
}

/** Resident set size of a process in MB (Linux /proc). */
function rssMb(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface HeapMb {
  used: number;
  total: number;
  /** The probe's whole line: resident heap pages, external and array buffers, malloc, each V8 space (JSON output). */
  probe: Record<string, unknown>;
}
/** The gateway's heap from the last line bench/mem-probe.mjs wrote (at most a second old), with BENCH_MEM=1. */
function heapMb(probeFile: string | undefined): HeapMb | undefined {
  if (!probeFile || !existsSync(probeFile)) return undefined;
  const last = readFileSync(probeFile, "utf8").trim().split("\n").pop();
  if (!last) return undefined;
  const m = JSON.parse(last) as { heapUsed: number; heapTotal: number };
  return { used: m.heapUsed, total: m.heapTotal, probe: m };
}

/** SIGUSR2 (the gateway runs with --heapsnapshot-signal) and wait until the snapshot file stops growing. */
async function heapSnapshot(pid: number, dir: string): Promise<string | undefined> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  process.kill(pid, "SIGUSR2");
  let size = -1;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const f = (existsSync(dir) ? readdirSync(dir) : []).find((x) => x.endsWith(".heapsnapshot") && !before.has(x));
    if (!f) continue;
    const now = statSync(join(dir, f)).size;
    if (now > 0 && now === size) return join(dir, f);
    size = now;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------------
// HTTP helpers for session set-up (keep-alive: 10,000 sessions should not cost 20,000 connections)

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; sid?: string; body: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (r) => {
      let data = "";
      r.setEncoding("utf8");
      r.on("data", (c: string) => {
        data += c;
      });
      r.on("end", () => {
        const sid = r.headers["mcp-session-id"];
        res({ status: r.statusCode ?? 0, body: data, ...(typeof sid === "string" ? { sid } : {}) });
      });
      r.on("error", rej);
    });
    req.setTimeout(30_000, () => req.destroy(new Error("no answer within 30 s")));
    req.on("error", rej);
    req.end(body);
  });
}

const BASE_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

/** initialize → notifications/initialized; returns the headers of that session. */
async function openSession(url: string, auth: Record<string, string>): Promise<Record<string, string>> {
  const initBody = JSON.stringify({
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: "mcp-edge-bench-full", version: "0.1.0" } },
  });
  let init = await post(url, { ...BASE_HEADERS, ...auth }, initBody);
  // A gateway that is not ready yet answers 503 with Retry-After: wait, as a client would (bounded).
  for (let i = 0; i < 40 && init.status === 503; i++) {
    await new Promise((r) => setTimeout(r, 250));
    init = await post(url, { ...BASE_HEADERS, ...auth }, initBody);
  }
  if (init.status !== 200 || !init.sid) throw new Error(`initialize: HTTP ${init.status} ${init.body.slice(0, 300)}`);
  const headers = { ...BASE_HEADERS, ...auth, "mcp-protocol-version": PROTOCOL_VERSION, "mcp-session-id": init.sid };
  const note = await post(url, headers, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  if (note.status !== 202) throw new Error(`notifications/initialized: HTTP ${note.status} ${note.body.slice(0, 300)}`);
  return headers;
}

async function checkedCall(url: string, headers: Record<string, string>, id: number): Promise<void> {
  const text = echoText(OPTS.textBytes);
  const r = await post(
    url,
    headers,
    JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text } } }),
  );
  const why = checkReply(r.status, r.body, id, text);
  if (why) throw new Error(`tools/call echo answered wrongly: ${why}`);
}

// ---------------------------------------------------------------------------------------------------------------------
// Fixtures shared by every scenario: the issuer, bao, the OTLP receiver

interface Fixtures {
  issuer: string;
  token: string;
  bao: { address: string; token: string; stop(): Promise<void> };
  secret: string;
  otlp: { url: string; requests: number; bytes: number; close(): void };
  close(): Promise<void>;
}

async function startOtlpReceiver(): Promise<Fixtures["otlp"]> {
  const { createServer } = await import("node:http");
  const state = { url: "", requests: 0, bytes: 0, close: () => srv.close() };
  const srv = createServer((req, res) => {
    req.on("data", (c: Buffer) => {
      state.bytes += c.length;
    });
    req.on("end", () => {
      state.requests++;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return state;
}

async function startFixtures(): Promise<Fixtures> {
  const idp = await startIdp({ accounts: { "bench-user": { groups: ["admin"], amr: ["pwd", "mfa"], acr: "mfa" } } });
  const token = await idp.mintToken({
    sub: "bench-user",
    aud: AUDIENCE,
    expiresIn: 6 * 3600,
    claims: { groups: ["admin"], amr: ["pwd", "mfa"], acr: "mfa" },
  });
  const bin = findBao() ?? (existsSync(join(ROOT, ".cache/tools/bin/bao")) ? join(ROOT, ".cache/tools/bin/bao") : undefined);
  if (!bin) throw new Error("bao not found (BAO_BIN, PATH or .cache/tools/bin/bao)");
  const bao = await startBao(bin);
  const secret = `bench-${randomBytes(12).toString("hex")}`;
  await bao.api("POST", "secret/data/bench/fast", { data: { key: secret } });
  // The gateway gets a token limited to reading that one path, as in production (docs/credentials.md).
  await bao.api("PUT", "sys/policies/acl/bench-gateway", { policy: 'path "secret/data/bench/*" { capabilities = ["read"] }' });
  const tok = await bao.api("POST", "auth/token/create", { policies: ["bench-gateway"], ttl: "24h", renewable: true });
  const otlp = await startOtlpReceiver();
  return {
    issuer: idp.issuer,
    token,
    bao: { address: bao.address, token: tok.body.auth.client_token as string, stop: () => bao.stop() },
    secret,
    otlp,
    async close() {
      otlp.close();
      await bao.stop();
      await idp.close();
    },
  };
}

function gatewayConfig(f: Fixtures, st: Stages, backendUrl: string, auditPath: string): string {
  const q = JSON.stringify;
  const lines = [
    "# Written by bench/full.ts for one run; deleted afterwards.",
    "listen: { host: 127.0.0.1, port: 0 }",
    `sessions: { key: ${q(randomBytes(24).toString("hex"))} }`,
    "logging: { level: warn }",
  ];
  if (st.jwt) {
    lines.push(
      "auth:",
      "  allowInsecureLoopback: true",
      `  issuers: [{ issuer: ${q(f.issuer)}, audiences: [${q(AUDIENCE)}] }]`,
      // The embedded wasm policy (the committed bundle); decision log records as JSON lines on stdout.
      `authz: { engine: { type: wasm }, decisionLog: { enabled: ${st.decisionLog === true} } }`,
    );
  }
  if (st.vault) lines.push(`vault: { address: ${q(f.bao.address)}, auth: { method: token, token: "\${env:BENCH_VAULT_TOKEN}" } }`);
  const tel: string[] = [];
  if (st.otel)
    tel.push(`enabled: true, stageSpans: true, sampler: { ratio: 1 }, otlp: { endpoint: ${q(f.otlp.url)}, metricsIntervalMs: 5000 }`);
  tel.push(st.audit ? `audit: { enabled: true, sink: file, path: ${q(auditPath)} }` : "audit: { enabled: false }");
  lines.push(`telemetry: { ${tel.join(", ")} }`, "servers:", "  fast:", `    url: ${q(backendUrl)}`);
  if (st.vault)
    lines.push(
      "    credentials:",
      "      from: { vault: { path: bench/fast } }",
      `      inject: { headers: { ${CREDENTIAL_HEADER}: "{key}" } }`,
      "      required: true",
    );
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------------------------
// One scenario: its own backend and gateway process, the load points, RSS; for `full` also the 10,000 sessions

interface Point {
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  ok: number;
  errors: number;
  errorSample?: string | undefined;
  /** Gateway CPU time per verified call over the measured phase (µs): robust to other work on the machine, unlike rps. */
  cpuUsPerCall?: number | undefined;
}
interface ScenarioRun {
  scenario: ScenarioName;
  round: number;
  points: Point[];
  rssIdleMb?: number | undefined;
  rssAfterLoadMb?: number | undefined;
  /** With BENCH_MEM=1: the gateway's V8 heap at the same moments as the RSS readings. */
  heap?: { idle?: HeapMb | undefined; afterLoad?: HeapMb | undefined; sessions?: HeapMb | undefined; snapshots?: string[] };
  sessions?: { opened: number; rssMb: number | undefined; seconds: number; sampleCallsOk: number } | undefined;
  /** Evidence the stages did their work: OTLP requests received, audit bytes written, decision-log lines. */
  evidence: Record<string, number>;
  failure?: string;
}

/** The nginx binary to compare with: BENCH_NGINX, else `nginx` on PATH or in /usr/sbin. */
function findNginx(): string | undefined {
  const candidates = [env.BENCH_NGINX, "nginx", "/usr/sbin/nginx"].filter((x): x is string => !!x);
  for (const c of candidates) if (spawnSync(c, ["-v"], { stdio: "ignore" }).status === 0) return c;
  return undefined;
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => res(port));
    });
  });
}

/** nginx as one proxy hop in front of the backend: a single process (no master), keep-alive to the upstream. */
async function startNginx(tmp: string, backendUrl: string, core: number | undefined): Promise<Proc> {
  const bin = findNginx();
  if (!bin) throw new Error("no nginx binary (install nginx, or set BENCH_NGINX)");
  const up = new URL(backendUrl);
  const port = await freePort();
  const conf = join(tmp, "nginx.conf");
  await writeFile(
    conf,
    [
      "daemon off; master_process off; worker_processes 1;",
      `pid ${join(tmp, "nginx.pid")}; error_log ${join(tmp, "nginx-error.log")} warn;`,
      "events { worker_connections 4096; }",
      "http {",
      `  access_log off; client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};`,
      `  upstream fast { server ${up.host}; keepalive 256; }`,
      `  server { listen 127.0.0.1:${port}; keepalive_requests 1000000;`,
      '    location / { proxy_pass http://fast; proxy_http_version 1.1; proxy_set_header Connection ""; } }',
      "}",
    ].join("\n"),
  );
  const argv = pinned([bin, "-p", tmp, "-c", conf], core);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "ignore"] });
  const url = `http://127.0.0.1:${port}${up.pathname}`;
  // Ready when it accepts a connection (nginx prints nothing on start).
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}); see ${join(tmp, "nginx-error.log")}`);
    const ok = await new Promise<boolean>((r) => {
      const req = request(url, { method: "GET", agent: false }, (res) => {
        res.resume();
        r(true);
      });
      req.on("error", () => r(false));
      req.end();
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    await gone;
  };
  return { child, ready: url, tail: () => "", stop };
}

async function runScenario(f: Fixtures, name: ScenarioName, round: number, pin: boolean): Promise<ScenarioRun> {
  const core = pin ? SERVER_CORE : undefined;
  const st: Stages | undefined = SCENARIOS[name].stages;
  const run: ScenarioRun = { scenario: name, round, points: [], evidence: {} };
  const procs: Proc[] = [];
  const tmp = await mkdtemp(join(tmpdir(), "mcp-bench-full-"));
  try {
    const backend = await startProcess(
      "fast backend",
      pinned([process.execPath, join(HERE, "fast-backend.ts")], core),
      /listening on (http:\/\/\S+)/,
      st?.vault ? { FAST_BACKEND_REQUIRE_HEADER: `${CREDENTIAL_HEADER}=${f.secret}` } : {},
    );
    procs.push(backend);
    let url = backend.ready;
    let gwPid: number | undefined;
    let auth: Record<string, string> = {};
    let gw: Proc | undefined;
    let dlog = 0;
    let probeFile: string | undefined;
    const auditPath = join(tmp, "audit.log");
    if (name === "nginx") {
      const ng = await startNginx(tmp, backend.ready, core);
      procs.push(ng);
      gwPid = ng.child.pid;
      url = ng.ready;
    }
    if (st) {
      const cfg = join(tmp, "gateway.yaml");
      await writeFile(cfg, gatewayConfig(f, st, backend.ready, auditPath));
      const profiled = OPTS.profileDir && (OPTS.profileScenarios.includes(name) || OPTS.profileScenarios.includes("all"));
      const prof = profiled ? ["--cpu-prof", `--cpu-prof-dir=${resolve(OPTS.profileDir!, name)}`] : [];
      if (OPTS.mem) probeFile = join(tmp, "mem-probe.jsonl");
      const mem = [
        ...(OPTS.mem ? ["--import", join(HERE, "mem-probe.mjs")] : []),
        ...(OPTS.heapSnapshotDir && name === "full"
          ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${resolve(OPTS.heapSnapshotDir)}`]
          : []),
      ];
      gw = await startProcess(
        "gateway",
        pinned([process.execPath, ...prof, ...mem, ...OPTS.nodeArgs, OPTS.gatewayCli, "--config", cfg], core),
        /listening on (http:\/\/\S+)/,
        { BENCH_VAULT_TOKEN: f.bao.token, ...(probeFile ? { MEM_PROBE_FILE: probeFile } : {}) },
      );
      procs.push(gw);
      gwPid = gw.child.pid;
      url = `${gw.ready.replace(/\/+$/, "")}/mcp/fast`;
      if (st.jwt) auth = { authorization: `Bearer ${f.token}` };
      // Counting decision-log records on stdout (the gateway's ready line is already consumed).
      gw.child.stdout!.on("data", (s: string) => {
        for (let i = s.indexOf("decision_id"); i !== -1; i = s.indexOf("decision_id", i + 1)) dlog++;
      });
    }
    const otlpBefore = f.otlp.requests;
    const headers = await openSession(url, auth);
    await checkedCall(url, headers, 1);
    await new Promise((r) => setTimeout(r, 1000));
    run.rssIdleMb = rssMb(gwPid);
    if (probeFile) run.heap = { idle: heapMb(probeFile) };
    for (const c of OPTS.concurrency) {
      log(`bench:full round ${round + 1}: ${SCENARIOS[name].label}, c=${c} …`);
      const r = await runLoad(
        { url, headers, connections: c, warmupSeconds: OPTS.warmup, durationSeconds: OPTS.duration, textBytes: OPTS.textBytes },
        pin ? LOAD_CORE : undefined,
        gwPid,
      );
      run.points.push({
        connections: c,
        rps: r.rps,
        p50: r.latencyMs.p50,
        p99: r.latencyMs.p99,
        max: r.latencyMs.max,
        ok: r.ok,
        errors: r.errors,
        errorSample: r.errorSamples[0],
        cpuUsPerCall: r.cpuMs !== undefined && r.ok > 0 ? (r.cpuMs * 1000) / r.ok : undefined,
      });
    }
    await new Promise((r) => setTimeout(r, 1000));
    run.rssAfterLoadMb = rssMb(gwPid);
    if (run.heap) run.heap.afterLoad = heapMb(probeFile);
    if (name === "full" && OPTS.sessions > 0) {
      // Two snapshots, after the load and with the sessions open: their difference is what the sessions hold.
      const snapshot = async (what: string) => {
        if (!OPTS.heapSnapshotDir || !gwPid) return;
        await mkdir(OPTS.heapSnapshotDir, { recursive: true });
        const file = await heapSnapshot(gwPid, resolve(OPTS.heapSnapshotDir));
        run.heap = { ...run.heap, snapshots: [...(run.heap?.snapshots ?? []), file ?? "not written"] };
        log(`bench:full: heap snapshot ${what}: ${file ?? "not written within 300 s"}`);
      };
      await snapshot("after the load");
      run.sessions = await openManySessions(url, auth, gwPid, () => {
        if (run.heap) run.heap.sessions = heapMb(probeFile);
      });
      await snapshot(`with ${OPTS.sessions} sessions`);
    }
    // Stopped first: a gateway flushes its span batches and queued log lines on shutdown.
    for (const p of [...procs].reverse()) await p.stop();
    if (st) {
      const ev: Record<string, number> = { decisionLogLines: dlog };
      if (st.otel) ev.otlpRequests = f.otlp.requests - otlpBefore;
      if (st.audit) ev.auditBytes = existsSync(auditPath) ? statSync(auditPath).size : 0;
      run.evidence = ev;
      const missing = [
        st.decisionLog && !ev.decisionLogLines && "no decision-log record",
        st.otel && !ev.otlpRequests && "no OTLP export received",
        st.audit && !ev.auditBytes && "no audit record written",
      ].filter(Boolean);
      if (missing.length) run.failure = `a stage did not do its work: ${missing.join(", ")}`;
    }
  } catch (e) {
    run.failure = (e as Error).message;
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  return run;
}

/** Open OPTS.sessions sessions (64 at a time, keep-alive), read the RSS, then check calls on a sample of them. */
async function openManySessions(
  url: string,
  auth: Record<string, string>,
  pid: number | undefined,
  measured: () => void,
): Promise<ScenarioRun["sessions"]> {
  log(`bench:full: opening ${OPTS.sessions} sessions …`);
  const t0 = performance.now();
  const all: Record<string, string>[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < OPTS.sessions) {
        next++;
        all.push(await openSession(url, auth));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const rss = rssMb(pid);
  measured();
  let ok = 0;
  const step = Math.max(1, Math.floor(all.length / 100));
  for (let i = 0; i < all.length; i += step) {
    await checkedCall(url, all[i]!, 1000 + i);
    ok++;
  }
  return { opened: all.length, rssMb: rss, seconds, sampleCallsOk: ok };
}

// ---------------------------------------------------------------------------------------------------------------------
// Report

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const range = (xs: number[], d: number, f = (x: number) => x.toFixed(d)) => {
  if (xs.length === 0) return "—";
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return xs.length === 1 || f(lo) === f(hi) ? f(median(xs)) : `${f(median(xs))} (${f(lo)}–${f(hi)})`;
};

const heapCell = (hs: Array<HeapMb | undefined>) => {
  const h = hs.flatMap((x) => x ?? []);
  return h.length
    ? `${range(
        h.map((x) => x.used),
        0,
      )}/${range(
        h.map((x) => x.total),
        0,
      )}`
    : "—";
};

function table(runs: ScenarioRun[]): string {
  const ok = runs.filter((r) => !r.failure);
  const by = (s: ScenarioName) => ok.filter((r) => r.scenario === s);
  const pt = (r: ScenarioRun, c: number) => r.points.find((p) => p.connections === c);
  // Ratios are taken within a round (same minutes of machine noise), then summarised over rounds.
  const ratio = (s: ScenarioName, base: ScenarioName, c: number) =>
    by(s).flatMap((r) => {
      const b = by(base).find((x) => x.round === r.round);
      const p = pt(r, c);
      const q = b && pt(b, c);
      return p && q && q.rps > 0 ? [p.rps / q.rps] : [];
    });
  const added = (s: ScenarioName) =>
    by(s).flatMap((r) => {
      const d = by("direct").find((x) => x.round === r.round);
      const p = pt(r, 1);
      const q = d && pt(d, 1);
      return p && q ? [(p.p50 - q.p50) * 1000] : [];
    });
  const out: string[] = [];
  const withNginx = by("nginx").length > 0;
  const head = [
    "scenario",
    ...OPTS.concurrency.flatMap((c) => [`c=${c} rps`, `÷direct`, ...(withNginx ? ["÷nginx"] : []), `÷pass`, `p50 ms`, `p99 ms`]),
    "+p50 µs c=1",
    ...OPTS.concurrency.map((c) => `CPU µs/call c=${c}`),
    "RSS idle/after MB",
    ...(OPTS.mem ? ["heap used/total idle, after MB"] : []),
  ];
  out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
  for (const s of OPTS.scenarios) {
    const rs = by(s);
    if (rs.length === 0) {
      out.push(`| ${SCENARIOS[s].label} | FAILED: ${runs.find((r) => r.scenario === s)?.failure?.split("\n")[0] ?? "not run"} |`);
      continue;
    }
    const cells = [SCENARIOS[s].label];
    for (const c of OPTS.concurrency) {
      const ps = rs.flatMap((r) => pt(r, c) ?? []);
      cells.push(
        range(
          ps.map((p) => p.rps),
          0,
          (x) => Math.round(x).toLocaleString("en-US"),
        ),
        s === "direct" ? "—" : range(ratio(s, "direct", c), 2),
        ...(withNginx ? [s === "direct" || s === "nginx" ? "—" : range(ratio(s, "nginx", c), 2)] : []),
        s === "direct" || s === "pass" || s === "nginx" ? "—" : range(ratio(s, "pass", c), 2),
        range(
          ps.map((p) => p.p50),
          3,
        ),
        range(
          ps.map((p) => p.p99),
          2,
        ),
      );
    }
    cells.push(s === "direct" ? "—" : range(added(s), 0, (x) => `+${x.toFixed(0)}`));
    for (const c of OPTS.concurrency) {
      const cpu = rs.flatMap((r) => pt(r, c)?.cpuUsPerCall ?? []);
      cells.push(cpu.length ? range(cpu, 0) : "—");
    }
    const idle = rs.flatMap((r) => r.rssIdleMb ?? []);
    const after = rs.flatMap((r) => r.rssAfterLoadMb ?? []);
    cells.push(idle.length ? `${range(idle, 0)} / ${range(after, 0)}` : "—");
    if (OPTS.mem) cells.push(heapCell(rs.map((r) => r.heap?.idle)) + ", " + heapCell(rs.map((r) => r.heap?.afterLoad)));
    out.push(`| ${cells.join(" | ")} |`);
  }
  const sess = ok.flatMap((r) => r.sessions ?? []);
  if (sess.length)
    out.push(
      "",
      `full, ${sess[0]!.opened.toLocaleString("en-US")} open sessions after the load: RSS ${range(
        sess.flatMap((x) => x.rssMb ?? []),
        0,
      )} MB; opened in ${range(
        sess.map((x) => x.seconds),
        1,
      )} s; ${sess.map((x) => x.sampleCallsOk).join("/")} sampled sessions served a verified call afterwards${
        OPTS.mem ? `; heap used/total ${heapCell(ok.map((r) => r.heap?.sessions))} MB` : ""
      }`,
    );
  const errs = runs.flatMap((r) =>
    r.points.filter((p) => p.errors > 0).map((p) => `${r.scenario} c=${p.connections}: ${p.errors} errors, e.g. ${p.errorSample}`),
  );
  for (const e of errs) out.push(`ERRORS ${e}`);
  for (const r of runs.filter((x) => x.failure)) out.push(`FAILED ${r.scenario} (round ${r.round + 1}): ${r.failure!.split("\n")[0]}`);
  return out.join("\n");
}

if (import.meta.main) {
  const probe = spawnSync("taskset", ["-c", String(LOAD_CORE), "true"], { stdio: "ignore" });
  const pin = OPTS.pin && !probe.error && probe.status === 0 && availableParallelism() >= 2;
  log(
    `bench:full: ${pin ? "pinned: gateway + backend on core 0, load generator on core 1" : "UNPINNED"}; ${OPTS.duration} s runs after ${OPTS.warmup} s warm-up`,
  );
  const f = await startFixtures();
  const runs: ScenarioRun[] = [];
  try {
    for (let round = 0; round < OPTS.rounds; round++) {
      const order = OPTS.scenarios.map((_, i) => OPTS.scenarios[(i + round) % OPTS.scenarios.length]!);
      for (const s of order) {
        const r = await runScenario(f, s, round, pin);
        if (r.failure) log(`bench:full: ${s} FAILED: ${r.failure}`);
        runs.push(r);
      }
    }
  } finally {
    await f.close();
    agent.destroy();
  }
  const text = table(runs);
  const header = `bench:full — ${new Date().toISOString()} — ${cpus().length} cores (${cpus()[0]?.model}), node ${process.version}, commit ${
    spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim() || "?"
  }; ${pin ? "pinned" : "UNPINNED"}; ${OPTS.rounds} round(s) of ${OPTS.duration} s (+${OPTS.warmup} s warm-up); median (min–max)`;
  process.stdout.write(`${header}\n\n${text}\n`);
  if (OPTS.out !== "-") {
    await mkdir(dirname(OPTS.out), { recursive: true });
    await writeFile(OPTS.out, `${JSON.stringify({ date: new Date().toISOString(), pin, opts: OPTS, runs }, null, 2)}\n`);
  }
  const bad = runs.some((r) => r.failure || r.points.some((p) => p.errors > 0 || p.ok === 0));
  process.exitCode = bad ? 1 : 0;
}
