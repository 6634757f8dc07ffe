// Every bad input gets its documented error (docs/errors.md), and nothing hangs or leaks.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo } from "../../examples/demo-server/server.ts";
import type { Filter } from "../src/chain/types.ts";
import { ERRORS, GatewayError } from "../src/errors.ts";
import { INIT, messagesOf, openSession, post, startGateway, stdioDemo, type TestGateway } from "./helpers.ts";

let http: Awaited<ReturnType<typeof startHttpDemo>>;
let gw: TestGateway;
let raw: Server;
let rawUrl: string;
/** What the misbehaving backend does next: keyed by the tool name called. */
const behaviours: Record<string, (res: import("node:http").ServerResponse, id: unknown) => void> = {
  garbage: (res) => res.writeHead(200, { "content-type": "application/json" }).end("<html>not json</html>"),
  notjsonrpc: (res) => res.writeHead(200, { "content-type": "application/json" }).end('{"hello":"world"}'),
  badtype: (res) => res.writeHead(200, { "content-type": "text/plain" }).end("hi"),
  silent: () => {},
  midstream: (res, id) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(
      `data: ${JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } })}\n\n`,
    );
    setTimeout(() => res.socket?.destroy(), 20);
    void id;
  },
  sse500: (res) => res.writeHead(500, { "content-type": "text/plain" }).end("boom"),
  badsse: (res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.end("data: {broken\n\n");
  },
};

beforeAll(async () => {
  http = await startHttpDemo();
  raw = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const m = body ? JSON.parse(body) : {};
      if (m.method === "initialize") {
        res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "raw-1" });
        res.end(
          JSON.stringify({
            jsonrpc: "2.0",
            id: m.id,
            result: { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "raw", version: "1" } },
          }),
        );
        return;
      }
      if (m.method === "tools/call") {
        const b = behaviours[m.params.name];
        if (b) return b(res, m.id);
      }
      if (!m.id) return void res.writeHead(202).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: {} }));
    });
  });
  await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
  rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/mcp`;
  gw = await startGateway(
    {
      web: { url: http.url },
      raw: { url: rawUrl, timeoutMs: 300 },
      local: { ...stdioDemo(), timeoutMs: 2000 },
      down: { url: "http://127.0.0.1:1/mcp" },
      nobin: { command: "/nonexistent/mcp-server-binary" },
    },
    { limits: { maxBodyBytes: 4096, requestTimeoutMs: 5000 } },
  );
});
afterAll(async () => {
  await gw?.close();
  await http?.close();
  raw?.closeAllConnections();
  await new Promise<void>((r) => raw?.close(() => r()));
});

async function expectError(r: Response, code: keyof typeof ERRORS) {
  const spec = ERRORS[code];
  expect(r.status).toBe(spec.http);
  const body = (await r.json()) as { jsonrpc: string; error: { code: number; data: { gatewayCode: string } } };
  expect(body.jsonrpc).toBe("2.0");
  expect(body.error.code).toBe(spec.rpc);
  expect(body.error.data.gatewayCode).toBe(code);
}

function rpcErrorOf(m: Record<string, unknown> | undefined): { code: number; data?: { gatewayCode?: string } } {
  return (m as { error: { code: number; data?: { gatewayCode?: string } } }).error;
}

describe("HTTP-level bad input", () => {
  it("malformed JSON → PARSE_ERROR", async () => {
    await expectError(await post(`${gw.url}/mcp/web`, "{not json"), "PARSE_ERROR");
  });
  it("JSON that is not JSON-RPC → INVALID_REQUEST", async () => {
    await expectError(await post(`${gw.url}/mcp/web`, { hello: 1 }), "INVALID_REQUEST");
    await expectError(await post(`${gw.url}/mcp/web`, "42"), "INVALID_REQUEST");
    await expectError(await post(`${gw.url}/mcp/web`, { jsonrpc: "1.0", id: 1, method: "ping" }), "INVALID_REQUEST");
  });
  it("wrong member types → INVALID_REQUEST naming the member", async () => {
    const r = await post(`${gw.url}/mcp/web`, { jsonrpc: "2.0", id: { x: 1 }, method: "ping" });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain('"id"');
    await expectError(await post(`${gw.url}/mcp/web`, { jsonrpc: "2.0", id: 1, method: 7 }), "INVALID_REQUEST");
    await expectError(await post(`${gw.url}/mcp/web`, { jsonrpc: "2.0", id: 1, method: "tools/call", params: [1, 2] }), "INVALID_REQUEST");
    await expectError(await post(`${gw.url}/mcp/web`, { jsonrpc: "2.0", id: 1.5, method: "ping" }), "INVALID_REQUEST");
  });
  it("empty batch → EMPTY_BATCH", async () => {
    await expectError(await post(`${gw.url}/mcp/web`, "[]"), "EMPTY_BATCH");
  });
  it("batch after 2025-03-26 → BATCH_NOT_ALLOWED; accepted in 2025-03-26", async () => {
    const sid = await openSession(`${gw.url}/mcp/web`, "2025-06-18");
    const batch = [
      { jsonrpc: "2.0", id: 10, method: "ping" },
      { jsonrpc: "2.0", id: 11, method: "tools/list" },
    ];
    await expectError(
      await post(`${gw.url}/mcp/web`, batch, { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" }),
      "BATCH_NOT_ALLOWED",
    );
    const old = await openSession(`${gw.url}/mcp/web`, "2025-03-26");
    const r = await post(`${gw.url}/mcp/web`, batch, { "mcp-session-id": old });
    expect(r.status).toBe(200);
    const msgs = await messagesOf(r);
    expect(msgs.map((m) => m.id).sort()).toEqual([10, 11]);
  });
  it("initialize inside a batch → INVALID_REQUEST", async () => {
    await expectError(await post(`${gw.url}/mcp/web`, [INIT]), "INVALID_REQUEST");
  });
  it("oversized body → BODY_TOO_LARGE (declared and streamed)", async () => {
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { text: "x".repeat(10_000) } },
    });
    await expectError(await post(`${gw.url}/mcp/web`, big), "BODY_TOO_LARGE");
    // Chunked (no Content-Length): the limit applies while reading.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const r = await fetch(`${gw.url}/mcp/web`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    await expectError(r, "BODY_TOO_LARGE");
  });
  it("wrong content type / accept / method", async () => {
    await expectError(
      await fetch(`${gw.url}/mcp/web`, {
        method: "POST",
        headers: { "content-type": "text/plain", accept: "application/json, text/event-stream" },
        body: "x",
      }),
      "UNSUPPORTED_MEDIA_TYPE",
    );
    await expectError(
      await fetch(`${gw.url}/mcp/web`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/html" },
        body: "{}",
      }),
      "NOT_ACCEPTABLE",
    );
    await expectError(await fetch(`${gw.url}/mcp/web`, { method: "PUT" }), "METHOD_NOT_ALLOWED");
  });
  it("unknown server → UNKNOWN_SERVER; unknown path → NOT_FOUND", async () => {
    await expectError(await post(`${gw.url}/mcp/nope`, INIT), "UNKNOWN_SERVER");
    await expectError(await fetch(`${gw.url}/elsewhere`), "NOT_FOUND");
  });
  it("unsupported MCP-Protocol-Version → 400", async () => {
    await expectError(
      await post(`${gw.url}/mcp/web`, { jsonrpc: "2.0", id: 1, method: "ping" }, { "mcp-protocol-version": "1999-01-01" }),
      "UNSUPPORTED_PROTOCOL_VERSION",
    );
  });
  it("CORS: an allowed Origin gets a preflight answer and the headers it may read; a foreign one gets none", async () => {
    const pre = await fetch(`${gw.url}/mcp/web`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:6274",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, mcp-session-id",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("http://localhost:6274");
    expect(pre.headers.get("access-control-allow-headers")).toBe("content-type, mcp-session-id");
    const r = await post(`${gw.url}/mcp/web`, INIT, { origin: "http://localhost:6274" });
    expect(r.headers.get("access-control-expose-headers")).toContain("mcp-session-id");
    await r.text();
    const foreign = await fetch(`${gw.url}/mcp/web`, { method: "OPTIONS", headers: { origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
    await foreign.text();
  });
  it("bad Origin and bad Host → 403", async () => {
    await expectError(await post(`${gw.url}/mcp/web`, INIT, { origin: "https://evil.example" }), "ORIGIN_FORBIDDEN");
    const ok = await post(`${gw.url}/mcp/web`, INIT, { origin: "http://localhost:3000" });
    expect(ok.status).toBe(200);
    await ok.text();
    // fetch will not let us forge Host; use node:http.
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${gw.url}/mcp/web`);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: "POST",
          headers: { host: "attacker.example", "content-type": "application/json", accept: "application/json, text/event-stream" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify(INIT));
    });
    expect(status).toBe(403);
  });
});

describe("sessions", () => {
  it("missing session → SESSION_REQUIRED; bad, tampered or foreign → SESSION_NOT_FOUND", async () => {
    const ping = { jsonrpc: "2.0", id: 2, method: "ping" };
    await expectError(await post(`${gw.url}/mcp/web`, ping), "SESSION_REQUIRED");
    await expectError(await post(`${gw.url}/mcp/web`, ping, { "mcp-session-id": "made-up" }), "SESSION_NOT_FOUND");
    const sid = await openSession(`${gw.url}/mcp/web`);
    const tampered = sid.slice(0, -3) + (sid.endsWith("A") ? "BBB" : "AAA");
    await expectError(await post(`${gw.url}/mcp/web`, ping, { "mcp-session-id": tampered }), "SESSION_NOT_FOUND");
    // A session of one route is unknown on another.
    await expectError(await post(`${gw.url}/mcp/raw`, ping, { "mcp-session-id": sid }), "SESSION_NOT_FOUND");
    // The real one works.
    const ok = await post(`${gw.url}/mcp/web`, ping, { "mcp-session-id": sid });
    expect((await messagesOf(ok))[0]).toMatchObject({ id: 2, result: {} });
  });
});

describe("backend failures", () => {
  const call = (name: string, id = 7) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } });

  it("backend down → UPSTREAM_UNAVAILABLE as a JSON-RPC error for the request", async () => {
    const r = await post(`${gw.url}/mcp/down`, INIT);
    expect(r.status).toBe(200);
    const [m] = await messagesOf(r);
    expect(m).toMatchObject({ id: 1, error: { code: ERRORS.UPSTREAM_UNAVAILABLE.rpc } });
    expect(r.headers.get("mcp-session-id")).toBeNull();
  });
  it("stdio command that cannot start → UPSTREAM_UNAVAILABLE", async () => {
    const [m] = await messagesOf(await post(`${gw.url}/mcp/nobin`, INIT));
    expect(rpcErrorOf(m).data?.gatewayCode).toBe("UPSTREAM_UNAVAILABLE");
  });
  it.each([
    ["garbage", "UPSTREAM_BAD_RESPONSE"],
    ["notjsonrpc", "UPSTREAM_BAD_RESPONSE"],
    ["badtype", "UPSTREAM_BAD_RESPONSE"],
    ["badsse", "UPSTREAM_BAD_RESPONSE"],
    ["silent", "UPSTREAM_TIMEOUT"],
    ["midstream", "UPSTREAM_CLOSED"],
    ["sse500", "UPSTREAM_HTTP_ERROR"],
  ])("backend answers %s → %s", async (tool, code) => {
    const sid = await openSession(`${gw.url}/mcp/raw`);
    const t0 = Date.now();
    const r = await post(`${gw.url}/mcp/raw`, call(tool), { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" });
    const msgs = await messagesOf(r);
    const last = msgs[msgs.length - 1];
    expect(last).toMatchObject({ jsonrpc: "2.0", id: 7 });
    expect(rpcErrorOf(last).code).toBe(ERRORS[code as keyof typeof ERRORS].rpc);
    expect(rpcErrorOf(last).data?.gatewayCode).toBe(code);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
  it("stdio backend crash mid-request: every in-flight request gets UPSTREAM_CLOSED, then the session is gone", async () => {
    const url = `${gw.url}/mcp/local`;
    const sid = await openSession(url);
    const h = { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    const slow = post(url, { jsonrpc: "2.0", id: 20, method: "tools/call", params: { name: "wait", arguments: { ms: 10_000 } } }, h);
    await new Promise((r) => setTimeout(r, 100));
    const crash = post(url, call("crash", 21), h);
    const [a, b] = await Promise.all([slow, crash]);
    for (const [r, id] of [
      [a, 20],
      [b, 21],
    ] as const) {
      const msgs = await messagesOf(r);
      expect(msgs[msgs.length - 1]).toMatchObject({ id, error: { code: ERRORS.UPSTREAM_CLOSED.rpc } });
    }
    await expectError(await post(url, { jsonrpc: "2.0", id: 22, method: "ping" }, h), "SESSION_NOT_FOUND");
  });
  it("a notification to a dead backend → HTTP error, not a hang", async () => {
    const r = await post(`${gw.url}/mcp/down`, { jsonrpc: "2.0", method: "notifications/initialized" }, { "mcp-session-id": "x" });
    expect(r.status).toBe(404);
    await r.text();
  });
});

describe("authentication comes before body validation", () => {
  it("an anonymous malformed body gets 401, an authenticated one the parse error", async () => {
    const authn: Filter = {
      name: "test-authn",
      stage: "authn",
      onRequest: (ex) =>
        ex.headers.authorization === "Bearer good"
          ? undefined
          : { error: new GatewayError("UNAUTHENTICATED"), headers: { "www-authenticate": 'Bearer resource_metadata="x"' } },
    };
    const g = await startGateway({ web: { url: http.url } }, {}, { filters: [authn] });
    try {
      const anon = await post(`${g.url}/mcp/web`, "{not json");
      expect(anon.status).toBe(401);
      expect(anon.headers.get("www-authenticate")).toContain("Bearer");
      await anon.text();
      await expectError(await post(`${g.url}/mcp/web`, "{not json", { authorization: "Bearer good" }), "PARSE_ERROR");
    } finally {
      await g.close();
    }
  });
});
