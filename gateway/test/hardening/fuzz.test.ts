// Issue 11, item 11: a bounded mutation fuzzer against a real gateway (HTTP listener, relay, the 1.x SDK
// demo backend). Every answer must be well-formed — never a 5xx without a JSON-RPC error body — and
// no request may hang past its timeout. FUZZ_COUNT=200000 for the large run; FUZZ_SEED to replay one.

import { appendFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startHttpDemo } from "../../../examples/demo-server/server.ts";
import { INIT, post, startGateway, type TestGateway } from "../helpers.ts";
import { gatewayCode, headerAuthn } from "./fixtures.ts";

const COUNT = Number(process.env.FUZZ_COUNT ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 11);
const CONCURRENCY = 16;
/** No answer within this long is a hang (the gateway's own request timeout is 2 s, body limits 1–2 s). */
const HANG_MS = 15_000;

let demo: Awaited<ReturnType<typeof startHttpDemo>>;
let gw: TestGateway;
let sid = "";

beforeAll(async () => {
  demo = await startHttpDemo();
  gw = await startGateway(
    { demo: { url: demo.url } },
    {
      logging: { level: "error" },
      limits: { requestTimeoutMs: 2000, bodyIdleTimeoutMs: 1000, bodyTimeoutMs: 2000, streamIdleTimeoutMs: 500, maxBodyBytes: 256 * 1024 },
    },
    { filters: [headerAuthn()] },
  );
  const r = await post(`${gw.url}/mcp/demo`, INIT, { "x-test-user": "fuzz" });
  await r.text();
  sid = r.headers.get("mcp-session-id") ?? "";
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await demo?.close();
});

/** xorshift32: a small, seedable PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

const BODIES: unknown[] = [
  INIT,
  { jsonrpc: "2.0", id: 2, method: "ping" },
  { jsonrpc: "2.0", method: "notifications/initialized" },
  { jsonrpc: "2.0", id: 3, method: "tools/list" },
  { jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } },
  { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "add", arguments: { a: 1, b: 2 } } },
  { jsonrpc: "2.0", id: 6, method: "resources/read", params: { uri: "demo://readme" } },
  { jsonrpc: "2.0", id: 7, method: "resources/read", params: { uri: "demo://items/../readme" } },
  { jsonrpc: "2.0", id: 8, method: "prompts/get", params: { name: "greet", arguments: { name: "x" } } },
  {
    jsonrpc: "2.0",
    id: 9,
    method: "completion/complete",
    params: { ref: { type: "ref/resource", uri: "demo://items/{id}" }, argument: { name: "id", value: "" } },
  },
  [
    { jsonrpc: "2.0", id: 10, method: "tools/list" },
    { jsonrpc: "2.0", id: 11, method: "ping" },
  ],
  { jsonrpc: "2.0", id: 12, result: {} },
  { jsonrpc: "2.0", id: 13, method: "subscriptions/listen", params: {} },
  { jsonrpc: "2.0", id: 14, method: "tools/call", params: { name: "echo", arguments: { text: "x" }, _meta: { progressToken: 1 } } },
];

const WEIRD = [
  "",
  "\u0000",
  "%ZZ",
  "..",
  "\t",
  "null",
  "[]",
  "{}",
  "-1",
  "1e999",
  '"',
  "\\",
  "\ud800",
  "a".repeat(300),
  "=?base64?x?=",
  "🙂",
];
const PATHS = [
  "/mcp/demo",
  "/mcp/demo/",
  "/mcp/demo/sse",
  "/mcp/demo/message?sessionId=x",
  "/mcp/%ZZ",
  "/mcp/",
  "/mcp/nope",
  "/healthz",
  "/readyz",
  "/",
  "/mcp/demo?access_token=x",
  "/.well-known/oauth-protected-resource",
];
const METHODS = [...Array<string>(16).fill("POST"), "GET", "GET", "DELETE", "PUT", "OPTIONS", "HEAD"];

function mutateText(r: () => number, s: string): string {
  const pick = (n: number) => Math.floor(r() * n);
  let out = s;
  const rounds = 1 + pick(4);
  for (let i = 0; i < rounds; i++) {
    const at = pick(out.length + 1);
    switch (pick(8)) {
      case 0: // flip a character
        out = out.slice(0, at) + String.fromCharCode(pick(128)) + out.slice(at + 1);
        break;
      case 1: // insert something weird
        out = out.slice(0, at) + WEIRD[pick(WEIRD.length)] + out.slice(at);
        break;
      case 2: // delete a range
        out = out.slice(0, at) + out.slice(at + pick(16));
        break;
      case 3: // duplicate a range
        out = out.slice(0, at) + out.slice(at, at + pick(32)) + out.slice(at);
        break;
      case 4: // deep nesting
        out = `${"[".repeat(pick(200))}${out}`;
        break;
      case 5: // truncate
        out = out.slice(0, at);
        break;
      case 6: // swap a JSON scalar for another type
        out = out.replace(
          /"(id|method|jsonrpc|name|uri|params)":/,
          (m) => `${m}${["null", "[]", "{}", "1.5", '"x"', "true"][pick(6)]},"_":`,
        );
        break;
      default: // a big string
        out = out.slice(0, at) + "z".repeat(pick(100_000)) + out.slice(at);
    }
  }
  return out;
}

function makeCase(r: () => number): Case {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const base = pick(BODIES);
  let body: string | undefined = JSON.stringify(base);
  if (r() < 0.7) body = mutateText(r, body);
  const headers: Record<string, string> = {
    "content-type": r() < 0.85 ? "application/json" : pick(["APPLICATION/JSON; charset=utf-8", "application/jsonp", "text/plain", ""]),
    accept:
      r() < 0.85
        ? "application/json, text/event-stream"
        : pick(["*/*", "text/event-stream", "application/json", "", "application/json, text/event-stream;q=0"]),
  };
  if (r() < 0.85) headers["x-test-user"] = "fuzz";
  if (r() < 0.6) headers["mcp-session-id"] = r() < 0.8 ? sid : mutateText(r, sid);
  if (r() < 0.5) headers["mcp-protocol-version"] = pick(["2025-06-18", "2025-03-26", "2024-11-05", "2026-07-28", "1999-01-01", "x"]);
  if (r() < 0.2) headers["mcp-method"] = pick(["ping", "tools/call", "x"]);
  if (r() < 0.1) headers["mcp-name"] = pick(["echo", "=?base64?ZWNobw==?=", "=?base64?%?="]);
  if (r() < 0.05) headers.host = pick(["localhost:1@evil.example", "evil.example", "[::1", "127.0.0.1:99999"]);
  if (r() < 0.05) headers.origin = pick(["http://evil.example", "null", "http://localhost:1"]);
  if (r() < 0.05) headers["last-event-id"] = mutateText(r, "abc");
  // Only what an HTTP/1.1 header can carry (node:http refuses the rest before sending).
  for (const k of Object.keys(headers)) {
    headers[k] = headers[k]!.replace(/[^\t\x20-\x7e]/g, "");
    if (headers[k] === "") delete headers[k];
  }
  let path = r() < 0.8 ? "/mcp/demo" : pick(PATHS);
  if (r() < 0.05) path = mutateText(r, path).replace(/[^\x21-\x7e]/g, "");
  if (!path.startsWith("/")) path = `/${path}`;
  const method = pick(METHODS);
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") body = undefined;
  return { method, path, headers, body };
}

interface Result {
  status: number;
  body: string;
  ms: number;
}

function send(agent: Agent, url: URL, c: Case): Promise<Result | "hang" | "socket"> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let done = false;
    const finish = (v: Result | "hang" | "socket") => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const req = request({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers: c.headers, agent }, (res) => {
      // A stream (GET, SSE answer) is answered once its head is in; the client then leaves after a while.
      if ((res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
        const leave = setTimeout(() => {
          finish({ status: res.statusCode ?? 0, body: "", ms: performance.now() - t0 });
          req.destroy();
        }, 3000);
        res.on("end", () => clearTimeout(leave));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (d: Buffer) => {
        size += d.length;
        if (size < 1_000_000) chunks.push(d);
      });
      res.on("end", () =>
        finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - t0 }),
      );
      res.on("error", () => finish("socket"));
    });
    const timer = setTimeout(() => {
      finish("hang");
      req.destroy();
    }, HANG_MS);
    // A refused or reset connection is the gateway protecting itself (body limits): not a 5xx, not a hang.
    req.on("error", (e) => {
      const headerBytes = c.path.length + JSON.stringify(c.headers).length;
      if (process.env.FUZZ_DEBUG && headerBytes < 8000)
        appendFileSync(process.env.FUZZ_DEBUG, `${JSON.stringify({ error: (e as Error).message, ...c })}\n`);
      finish("socket");
    });
    req.end(c.body);
  });
}

/** A 5xx must carry a JSON-RPC error with the gateway's code (or be a backend's JSON-RPC error relayed). */
function wellFormed5xx(body: string): boolean {
  try {
    const v = JSON.parse(body) as { jsonrpc?: string; error?: { code?: unknown } };
    return v.jsonrpc === "2.0" && typeof v.error?.code === "number";
  } catch {
    return false;
  }
}

it(`${COUNT} mutated requests: no 5xx without a JSON-RPC body, no hang`, { timeout: Math.max(120_000, COUNT * 20) }, async () => {
  const r = prng(SEED);
  const url = new URL(gw.url);
  const agent = new Agent({ keepAlive: process.env.FUZZ_KEEPALIVE !== "0", maxSockets: CONCURRENCY });
  const stats = {
    sent: 0,
    byStatus: new Map<number, number>(),
    bad5xx: [] as Array<{ c: Case; res: Result }>,
    hangs: [] as Case[],
    socket: 0,
    maxMs: 0,
  };
  let next = 0;
  const t0 = performance.now();
  async function worker(): Promise<void> {
    while (next < COUNT) {
      next++;
      const c = makeCase(r);
      const res = await send(agent, url, c);
      stats.sent++;
      // A fuzzed DELETE that ended the shared session: open a new one, so later cases reach the backend again.
      if (c.method === "DELETE" && c.headers["mcp-session-id"] === sid && res !== "hang" && res !== "socket" && res.status === 200) {
        const again = await post(`${gw.url}/mcp/demo`, INIT, { "x-test-user": "fuzz" });
        await again.text();
        sid = again.headers.get("mcp-session-id") ?? sid;
      }
      if (res === "hang") stats.hangs.push(c);
      else if (res === "socket") stats.socket++;
      else {
        stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
        stats.maxMs = Math.max(stats.maxMs, res.ms);
        if (res.status >= 500 && !wellFormed5xx(res.body)) stats.bad5xx.push({ c, res });
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (process.env.FUZZ_DEBUG) for (const l of gw.logs) appendFileSync(`${process.env.FUZZ_DEBUG}.log`, `${l.slice(0, 2000)}\n`);
  agent.destroy();
  const secs = (performance.now() - t0) / 1000;
  const statuses = [...stats.byStatus.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}:${n}`)
    .join(" ");
  console.log(
    `fuzz seed=${SEED}: ${stats.sent} requests in ${secs.toFixed(1)} s; statuses ${statuses}; connections cut ${stats.socket}; ` +
      `bad 5xx ${stats.bad5xx.length}; hangs ${stats.hangs.length}; slowest answer ${stats.maxMs.toFixed(0)} ms`,
  );
  expect(
    stats.bad5xx.map((b) => ({ ...b.c, body: b.c.body?.slice(0, 200), status: b.res.status, answer: b.res.body.slice(0, 200) })),
  ).toEqual([]);
  expect(stats.hangs.map((c) => ({ ...c, body: c.body?.slice(0, 200) }))).toEqual([]);
  // The gateway is still itself (health lives on the admin listener: the MCP port answers an unknown route)
  // and serves a real session.
  const alive = await fetch(`${gw.url}/mcp/nope`);
  expect(alive.status).toBe(404);
  expect(gatewayCode(await alive.text())).toBe("UNKNOWN_SERVER");
  // (The fuzzed session may have been DELETEd by a mutated request: a new one must open and answer.)
  const init = await post(`${gw.url}/mcp/demo`, INIT, { "x-test-user": "fuzz" });
  expect(init.status).toBe(200);
  await init.text();
  const fresh = init.headers.get("mcp-session-id")!;
  const ok = await post(
    `${gw.url}/mcp/demo`,
    { jsonrpc: "2.0", id: 99, method: "ping" },
    { "x-test-user": "fuzz", "mcp-session-id": fresh, "mcp-protocol-version": "2025-06-18" },
  );
  expect(ok.status).toBe(200);
});
