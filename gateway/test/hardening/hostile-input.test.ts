// Issue 11, items 5–9 and 12–13: every request answered at once with a documented error (other-era
// methods, unknown members, bad routes, deep nesting, GET-stream HTTP errors, media types, Host), and
// request bodies that cannot hold the gateway: authn from the headers first, body time limits.

import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo } from "../../../examples/demo-server/server.ts";
import { channels } from "../../src/diagnostics.ts";
import { INIT, messagesOf, post, startGateway, type TestGateway } from "../helpers.ts";
import { gatewayCode, headerAuthn, raw } from "./fixtures.ts";

let demo: Awaited<ReturnType<typeof startHttpDemo>>;
/** In front of the demo backend: POST relayed, GET answered `500 text/plain` (what the Python SDK does). */
let plainGet: Server;
let plainGetUrl: string;
/** In front of the demo backend: relays everything, but answers tools/list with a member named twice. */
let dupList: Server;
let dupListUrl: string;
let gw: TestGateway;
const USER = { "x-test-user": "una" };

/** The request to the demo backend that relays `req`'s answer into `res` (the caller writes the body). */
function forward(target: URL, req: IncomingMessage, res: ServerResponse) {
  return httpRequest({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
}

beforeAll(async () => {
  demo = await startHttpDemo();
  const target = new URL(demo.url);
  plainGet = createServer((req, res) => {
    if (req.method === "GET") {
      res.writeHead(500, { "content-type": "text/plain" }).end("Internal Server Error");
      return;
    }
    req.pipe(forward(target, req, res));
  });
  await new Promise<void>((r) => plainGet.listen(0, "127.0.0.1", r));
  plainGetUrl = `http://127.0.0.1:${(plainGet.address() as AddressInfo).port}/mcp`;
  dupList = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const msg = body.length ? (JSON.parse(body.toString()) as { id?: number; method?: string }) : {};
      if (msg.method === "tools/list") {
        // JSON.parse keeps the last "tools"; a first-wins parser would see the hidden tool.
        res.writeHead(200, { "content-type": "application/json" });
        res.end(`{"jsonrpc":"2.0","id":${msg.id},"result":{"tools":[{"name":"hidden","inputSchema":{"type":"object"}}],"tools":[]}}`);
        return;
      }
      forward(target, req, res).end(body);
    });
  });
  await new Promise<void>((r) => dupList.listen(0, "127.0.0.1", r));
  dupListUrl = `http://127.0.0.1:${(dupList.address() as AddressInfo).port}/mcp`;
  gw = await startGateway(
    { demo: { url: demo.url }, "plain-get": { url: plainGetUrl }, "dup-list": { url: dupListUrl } },
    { limits: { requestTimeoutMs: 5000, bodyIdleTimeoutMs: 400, bodyTimeoutMs: 1500 } },
    // A response filter that reads every backend answer (as authz's list filtering does), and lets it pass.
    { filters: [headerAuthn(), { name: "test-reads-answers", stage: "authz", onUpstreamMessage: (_ex, msg) => msg }] },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  plainGet?.closeAllConnections();
  await new Promise<void>((r) => (plainGet ? plainGet.close(() => r()) : r()));
  dupList?.closeAllConnections();
  await new Promise<void>((r) => (dupList ? dupList.close(() => r()) : r()));
  await demo?.close();
});

async function open(route = "demo", pv = "2025-06-18"): Promise<Record<string, string>> {
  const r = await post(`${gw.url}/mcp/${route}`, { ...INIT, params: { ...INIT.params, protocolVersion: pv } }, USER);
  expect(r.status).toBe(200);
  await r.text();
  const h = { ...USER, "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": pv };
  await (await post(`${gw.url}/mcp/${route}`, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).text();
  return h;
}

describe("item 5: answered at once, never held", () => {
  it("subscriptions/listen in a 2025 session is METHOD_NOT_IN_VERSION, at once", async () => {
    const h = await open();
    const t0 = performance.now();
    const r = await post(`${gw.url}/mcp/demo`, { jsonrpc: "2.0", id: 9, method: "subscriptions/listen", params: {} }, h);
    const [m] = await messagesOf(r);
    expect((m as { error: { data: { gatewayCode: string } } }).error.data.gatewayCode).toBe("METHOD_NOT_IN_VERSION");
    expect(r.status).toBe(400);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it("a ping with an unknown top-level member is INVALID_REQUEST at once, not a wait for the timeout", async () => {
    const h = await open();
    const t0 = performance.now();
    const r = await post(`${gw.url}/mcp/demo`, { jsonrpc: "2.0", id: 10, method: "ping", extra: true }, h);
    expect(r.status).toBe(400);
    const body = await r.text();
    expect(gatewayCode(body)).toBe("INVALID_REQUEST");
    expect(body).toContain('member \\"extra\\"');
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

describe("item 6: a malformed route escape", () => {
  it("/mcp/%ZZ is 400 BAD_ROUTE, before authentication, with no error log line", async () => {
    const before = gw.logs.length;
    for (const path of ["/mcp/%ZZ", "/mcp/%E0%A4%A", "/mcp/%/x"]) {
      const r = await raw(gw.url, {
        path,
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: "{}",
      });
      expect(r.status, path).toBe(400);
      expect(gatewayCode(r.body), path).toBe("BAD_ROUTE");
    }
    const lines = gw.logs.slice(before).map((l) => JSON.parse(l) as { "log.level": string });
    expect(lines.filter((l) => l["log.level"] === "error" || l["log.level"] === "warn")).toEqual([]);
  });
});

describe("item 7: a backend GET stream that fails at HTTP level", () => {
  it("is a JSON-RPC error for the client, never the backend's text/plain", async () => {
    const h = await open("plain-get");
    const r = await fetch(`${gw.url}/mcp/plain-get`, { headers: { ...h, accept: "text/event-stream" } });
    expect(r.status).toBe(502);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(gatewayCode(await r.text())).toBe("UPSTREAM_HTTP_ERROR");
  });
});

describe("member names given twice in one object", () => {
  it("a request naming a member twice is DUPLICATE_MEMBER (400), also when the names differ only by escapes", async () => {
    const h = await open();
    for (const [i, body] of [
      `{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"echo","name":"add","arguments":{}}}`,
      `{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"echo","arguments":{"a":1,"\\u0061":2}}}`,
      `{"jsonrpc":"2.0","id":23,"id":24,"method":"ping"}`,
    ].entries()) {
      const r = await post(`${gw.url}/mcp/demo`, body, h);
      expect(r.status, String(i)).toBe(400);
      expect(gatewayCode(await r.text()), String(i)).toBe("DUPLICATE_MEMBER");
    }
    // The same name in two different objects is fine.
    const ok = await post(`${gw.url}/mcp/demo`, `{"jsonrpc":"2.0","id":25,"method":"ping","params":{"_meta":{"id":1}}}`, h);
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it("a backend answer naming a member twice reaches the client as the gateway read it, never as the ambiguous text", async () => {
    const h = await open("dup-list");
    const r = await post(`${gw.url}/mcp/dup-list`, { jsonrpc: "2.0", id: 26, method: "tools/list" }, h);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).not.toContain("hidden");
    const [m] = await messagesOf(new Response(text, { headers: r.headers }));
    expect((m as { result: { tools: unknown[] } }).result.tools).toEqual([]);
  });
});

describe("item 8: nesting depth is bounded at parse time", () => {
  it("a _meta nested 100 000 deep, with tracing on, is NESTING_TOO_DEEP (400), and the gateway goes on", async () => {
    const h = await open();
    const sub = () => {};
    channels.messageStart.subscribe(sub);
    try {
      const deep = `{"jsonrpc":"2.0","id":11,"method":"ping","params":{"_meta":{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}}}`;
      const r = await post(`${gw.url}/mcp/demo`, deep, h);
      expect(r.status).toBe(400);
      expect(gatewayCode(await r.text())).toBe("NESTING_TOO_DEEP");
      // Brackets inside strings are not nesting.
      const flat = await post(
        `${gw.url}/mcp/demo`,
        { jsonrpc: "2.0", id: 12, method: "ping", params: { _meta: { s: "[".repeat(1000) } } },
        h,
      );
      expect(flat.status).toBe(200);
      await flat.text();
    } finally {
      channels.messageStart.unsubscribe(sub);
    }
  });
});

describe("item 9: media types and Host parsed by real parsers", () => {
  it("application/jsonp is refused; APPLICATION/JSON with parameters is accepted; Accept is case-insensitive", async () => {
    const h = await open();
    const body = JSON.stringify({ jsonrpc: "2.0", id: 13, method: "ping" });
    const jsonp = await raw(gw.url, {
      path: "/mcp/demo",
      headers: { ...h, "content-type": "application/jsonp", accept: "application/json, text/event-stream" },
      body,
    });
    expect(jsonp.status).toBe(415);
    expect(gatewayCode(jsonp.body)).toBe("UNSUPPORTED_MEDIA_TYPE");
    const upper = await raw(gw.url, {
      path: "/mcp/demo",
      headers: { ...h, "content-type": "APPLICATION/JSON; Charset=UTF-8", accept: "Application/Json, TEXT/EVENT-STREAM;q=0.9" },
      body,
    });
    expect(upper.status).toBe(200);
    const refusedSse = await raw(gw.url, {
      path: "/mcp/demo",
      headers: { ...h, "content-type": "application/json", accept: "application/json, text/event-stream;q=0" },
      body,
    });
    expect(refusedSse.status).toBe(406);
    const latin1 = await raw(gw.url, {
      path: "/mcp/demo",
      headers: { ...h, "content-type": "application/json; charset=latin1", accept: "*/*" },
      body,
    });
    expect(latin1.status).toBe(415);
  });

  it("a Host with userinfo, a path or a bad port is refused; loopback with a port passes", async () => {
    const port = new URL(gw.url).port;
    for (const host of [
      "localhost:1@evil.example",
      "evil.example#@localhost",
      "localhost/evil",
      "localhost:80x",
      "127.0.0.1:1@evil.example:80",
    ]) {
      const r = await raw(gw.url, { method: "GET", path: "/mcp/demo", headers: { host, accept: "text/event-stream" } });
      expect(r.status, host).toBe(403);
      expect(gatewayCode(r.body), host).toBe("HOST_FORBIDDEN");
    }
    // Past the host guard: an unknown route is answered as such (not HOST_FORBIDDEN).
    const ok = await raw(gw.url, { method: "GET", path: "/mcp/nope", headers: { host: `LOCALHOST:${port}` } });
    expect(ok.status).toBe(404);
    expect(gatewayCode(ok.body)).toBe("UNKNOWN_SERVER");
    const ok2 = await raw(gw.url, {
      method: "POST",
      path: "/mcp/demo",
      headers: { host: `[::1]:${port}`, ...USER, "content-type": "application/json", accept: "*/*" },
      body: JSON.stringify(INIT),
    });
    expect(ok2.status).toBe(200);
  });
});

/** A raw connection that sends `head` and then trickles a body until the server closes it (bounded). */
function trickle(url: string, head: string, everyMs: number, maxMs: number): Promise<{ closedAfterMs: number; response: string }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s: Socket = connect(Number(u.port), u.hostname);
    let response = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      response += d;
    });
    s.on("error", () => {});
    s.write(head);
    const timer = setInterval(() => {
      if (!s.destroyed && s.writable) s.write("x");
    }, everyMs);
    const give = setTimeout(() => s.destroy(), maxMs);
    s.on("close", () => {
      clearInterval(timer);
      clearTimeout(give);
      resolve({ closedAfterMs: performance.now() - t0, response });
    });
  });
}

describe("items 12–13: bodies cannot hold the gateway", () => {
  const head = (extra: string, length: number) =>
    `POST /mcp/demo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n${extra}Content-Length: ${length}\r\n\r\n`;

  it("100 anonymous slow bodies: each is refused 401 from its headers and its connection closed, long before the body ends", async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => trickle(gw.url, head("", 10_000_000), 50, 20_000)));
    for (const r of results) {
      expect(r.response).toMatch(/^HTTP\/1\.1 401/);
      expect(r.response.toLowerCase()).toContain("connection: close");
      expect(r.closedAfterMs).toBeLessThan(10_000);
    }
  });

  it("200 anonymous connections pushing 1 MiB each: the gateway buffers none of it (bounded memory)", async () => {
    const payload = Buffer.alloc(1024 * 1024, 0x78); // one buffer, shared by every write: the client costs nothing
    global.gc?.();
    const base = process.memoryUsage();
    let peak = 0;
    const sample = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed - base.heapUsed + (m.arrayBuffers - base.arrayBuffers));
    }, 10);
    const u = new URL(gw.url);
    const answers = await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          new Promise<string>((resolve) => {
            const s = connect(Number(u.port), u.hostname);
            let response = "";
            s.setEncoding("utf8");
            s.on("data", (d: string) => {
              response += d;
            });
            s.on("error", () => {});
            s.on("close", () => resolve(response));
            s.write(head("", 4 * 1024 * 1024));
            s.write(payload);
            setTimeout(() => s.destroy(), 15_000).unref();
          }),
      ),
    );
    clearInterval(sample);
    expect(answers.filter((a) => a.startsWith("HTTP/1.1 401")).length).toBe(200);
    // 200 MiB were offered; what the gateway held at any moment stays far below (kernel buffers aside).
    expect(peak).toBeLessThan(64 * 1024 * 1024);
  });

  it("a small anonymous body is drained and answered 401, the connection stays usable", async () => {
    const r = await raw(gw.url, {
      path: "/mcp/demo",
      headers: { "content-type": "application/json", accept: "*/*" },
      body: JSON.stringify(INIT),
    });
    expect(r.status).toBe(401);
    expect(r.headers.connection).not.toBe("close");
  });

  it("an authenticated body that trickles past the total limit is 408 BODY_TIMEOUT and the connection is closed", async () => {
    const r = await trickle(gw.url, head("X-Test-User: una\r\n", 100_000), 50, 20_000);
    expect(r.response).toMatch(/^HTTP\/1\.1 408/);
    expect(r.response).toContain("BODY_TIMEOUT");
    expect(r.closedAfterMs).toBeGreaterThan(1400);
    expect(r.closedAfterMs).toBeLessThan(10_000);
  });

  it("an authenticated body that stops arriving is 408 after the idle limit", async () => {
    const r = await trickle(gw.url, `${head("X-Test-User: una\r\n", 100_000)}{"jsonrpc"`, 60_000, 20_000);
    expect(r.response).toMatch(/^HTTP\/1\.1 408/);
    expect(r.response).toContain("no data for 400 ms");
    expect(r.closedAfterMs).toBeLessThan(5000);
  });
});
