// Issue 11, items 14 and 16: backends that send unbounded frames (an endless SSE event on a POST answer
// or on the GET stream, an endless stdio line) are cut at the configured bound with the documented
// error and the stream or child ended; a GET stream that carries nothing is ended after its idle limit.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SseParser } from "../../src/codec/sse.ts";
import { INIT, messagesOf, post, startGateway, type TestGateway } from "../helpers.ts";

/** What the hostile backend saw: how many of its endless answers were closed by the gateway. */
const closed = { post: 0, get: 0 };
let backend: Server;
let backendUrl: string;
let dir: string;
let gw: TestGateway;

const INIT_RESULT = { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "hostile", version: "1" } };

/** Streams `data: xxxx…` forever (16 KiB writes, never a line break), until the connection closes. */
function endless(res: ServerResponse, onClose: () => void, comments = false): void {
  res.writeHead(200, { "content-type": "text/event-stream" });
  const chunk = comments ? ": keep-alive\n\n" : "x".repeat(16 * 1024);
  if (!comments) res.write("data: ");
  const t = setInterval(() => res.write(chunk), comments ? 50 : 1);
  res.on("close", () => {
    clearInterval(t);
    onClose();
  });
}

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method === "GET") {
    const quiet = req.url?.includes("quiet");
    endless(res, () => closed.get++, quiet);
    return;
  }
  const m = JSON.parse(body) as { id?: number; method: string };
  if (m.id === undefined) {
    res.writeHead(202).end();
    return;
  }
  if (m.method === "initialize") {
    res
      .writeHead(200, { "content-type": "application/json", "mcp-session-id": "up-1" })
      .end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: INIT_RESULT }));
    return;
  }
  if (m.method === "ping") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: {} }));
    return;
  }
  endless(res, () => closed.post++);
}

const STDIO_HOSTILE = `
const rl = require("node:readline").createInterface({ input: process.stdin });
rl.on("line", (l) => {
  const m = JSON.parse(l);
  if (m.method === "initialize") process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: ${JSON.stringify(INIT_RESULT)} }) + "\\n");
  else if (m.id !== undefined) {
    process.stdout.write('{"jsonrpc":"2.0","id":' + m.id + ',"result":{"x":"');
    const chunk = "y".repeat(64 * 1024);
    const pump = () => { while (process.stdout.write(chunk)) {} process.stdout.once("drain", pump); };
    pump();
  }
});
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gw-hostile-"));
  const script = join(dir, "hostile-stdio.cjs");
  await writeFile(script, STDIO_HOSTILE);
  backend = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => handle(req, res, body));
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/mcp`;
  gw = await startGateway(
    {
      hostile: { url: backendUrl },
      quiet: { url: `${backendUrl}?quiet` },
      "hostile-stdio": { command: process.execPath, args: [script] },
    },
    { limits: { maxBackendMessageBytes: 256 * 1024, streamIdleTimeoutMs: 800 } },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  backend?.closeAllConnections();
  await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
  await rm(dir, { recursive: true, force: true });
});

async function open(route: string): Promise<Record<string, string>> {
  const r = await post(`${gw.url}/mcp/${route}`, INIT);
  expect(r.status, await r.clone().text()).toBe(200);
  await r.text();
  return { "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("item 14: every backend frame is bounded", () => {
  it("an endless SSE event answering a POST: the request gets UPSTREAM_FRAME_TOO_LARGE and the backend stream is closed", async () => {
    const h = await open("hostile");
    const before = closed.post;
    const r = await post(`${gw.url}/mcp/hostile`, { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "x", arguments: {} } }, h);
    const msgs = await messagesOf(r);
    const e = msgs.find((m) => m.id === 5) as { error: { code: number; data: { gatewayCode: string } } };
    expect(e.error.data.gatewayCode).toBe("UPSTREAM_FRAME_TOO_LARGE");
    expect(e.error.code).toBe(-32064);
    await until(() => closed.post > before);
    // The gateway is still itself.
    expect((await fetch(`${gw.url}/mcp/nope`)).status).toBe(404);
    const ping = await post(`${gw.url}/mcp/hostile`, { jsonrpc: "2.0", id: 6, method: "ping" }, h);
    expect(ping.status).toBe(200);
  });

  it("an endless SSE event on the GET stream: the stream is ended and the backend connection closed", async () => {
    const h = await open("hostile");
    const before = closed.get;
    const r = await fetch(`${gw.url}/mcp/hostile`, { headers: { ...h, accept: "text/event-stream" } });
    expect(r.status).toBe(200);
    const text = await r.text(); // ends: the gateway ended the stream
    expect(text.length).toBeLessThan(64 * 1024);
    await until(() => closed.get > before);
  });

  it("an endless stdio line: the request gets UPSTREAM_FRAME_TOO_LARGE and the child is ended", async () => {
    const h = await open("hostile-stdio");
    const r = await post(
      `${gw.url}/mcp/hostile-stdio`,
      { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "x", arguments: {} } },
      h,
    );
    const msgs = await messagesOf(r);
    const e = msgs.find((m) => m.id === 7) as { error: { data: { gatewayCode: string } } };
    expect(e.error.data.gatewayCode).toBe("UPSTREAM_FRAME_TOO_LARGE");
    await until(() => gw.logs.some((l) => l.includes("stdio backend exited")));
    // The session's child is gone: the session is too.
    const again = await post(`${gw.url}/mcp/hostile-stdio`, { jsonrpc: "2.0", id: 8, method: "ping" }, h);
    expect(again.status).toBe(404);
  });

  it("the SSE parser: events split anywhere still parse; one past the bound throws and keeps nothing", () => {
    const p = new SseParser(1000);
    const text = `data: ${"a".repeat(900)}\n\ndata: b\r\n\r\n`;
    const out = [];
    for (let i = 0; i < text.length; i += 7) out.push(...p.push(text.slice(i, i + 7)));
    expect(out.map((e) => e.data.length)).toEqual([900, 1]);
    const q = new SseParser(1000);
    expect(() => {
      for (let i = 0; i < 200; i++) q.push("x".repeat(10));
    }).toThrow(/SSE event longer than 1000/);
    const multi = new SseParser(1000);
    expect(() => {
      for (let i = 0; i < 200; i++) multi.push("data: 0123456789\n");
    }).toThrow(/longer than 1000/);
  });
});

describe("item 16: GET streams that carry nothing", () => {
  it("a stream with only keep-alive comments is ended after streamIdleTimeoutMs, and its backend connection closed", async () => {
    const h = await open("quiet");
    const before = closed.get;
    const t0 = performance.now();
    const r = await fetch(`${gw.url}/mcp/quiet`, { headers: { ...h, accept: "text/event-stream" } });
    expect(r.status).toBe(200);
    await r.text();
    const took = performance.now() - t0;
    expect(took).toBeGreaterThan(700);
    expect(took).toBeLessThan(10_000);
    await until(() => closed.get > before);
  });
});

describe("item 16: GET streams cannot exhaust a backend's connections", () => {
  let g2: TestGateway;
  beforeAll(async () => {
    g2 = await startGateway({ quiet: { url: `${backendUrl}?quiet` } }, { limits: { streamIdleTimeoutMs: 60_000 } });
  }, 60_000);
  afterAll(async () => {
    await g2?.close();
  });

  it("past 128 streams a GET is 429 STREAM_LIMIT, a new session still opens at once, and streams whose client left are closed at the backend", async () => {
    const r = await post(`${g2.url}/mcp/quiet`, INIT);
    expect(r.status).toBe(200);
    await r.text();
    const h = { "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18", accept: "text/event-stream" };
    const before = closed.get;
    const ctls = Array.from({ length: 140 }, () => new AbortController());
    const answers = await Promise.all(ctls.map((c) => fetch(`${g2.url}/mcp/quiet`, { headers: h, signal: c.signal })));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(128);
    expect(statuses.filter((s) => s === 429)).toHaveLength(12);
    for (const a of answers)
      if (a.status === 429) expect((await a.json()) as unknown).toMatchObject({ error: { data: { gatewayCode: "STREAM_LIMIT" } } });
    // Requests and new sessions have their own connections.
    const t0 = performance.now();
    const other = await post(`${g2.url}/mcp/quiet`, INIT);
    expect(other.status).toBe(200);
    await other.text();
    expect(performance.now() - t0).toBeLessThan(5000);
    // Every client leaves: every backend stream is closed, none is left without a client.
    for (const c of ctls) c.abort();
    await until(() => closed.get - before >= 128, 20_000);
  });
});
