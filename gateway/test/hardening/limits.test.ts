// The limits stage through real gateways: token buckets per principal × route × tool with 429 and
// Retry-After, concurrency, sessions and streams per principal, the refusal on the diagnostics error
// channel (the metric) and in the stage event (the audit record); and two gateway processes (the CLI)
// drawing from one bucket in a real redis-server.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo } from "../../../examples/demo-server/server.ts";
import { channels, type StageEvent } from "../../src/diagnostics.ts";
import { INIT, messagesOf, post, startGateway, TEST_KEY, type TestGateway } from "../helpers.ts";
import { gatewayCode, headerAuthn, type RedisServer, startRedis } from "./fixtures.ts";

let demo: Awaited<ReturnType<typeof startHttpDemo>>;
let gw: TestGateway;

beforeAll(async () => {
  demo = await startHttpDemo();
  gw = await startGateway(
    { demo: { url: demo.url }, other: { url: demo.url } },
    {
      limits: {
        routes: { demo: { tools: { echo: { requestsPerSecond: 0.5, burst: 2 } } } },
        maxConcurrentPerPrincipal: 2,
        maxSessionsPerPrincipal: 3,
        maxStreamsPerPrincipal: 1,
      },
    },
    { filters: [headerAuthn()] },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await demo?.close();
});

async function open(user: string, route = "demo"): Promise<Record<string, string>> {
  const r = await post(`${gw.url}/mcp/${route}`, INIT, { "x-test-user": user });
  expect(r.status, await r.clone().text()).toBe(200);
  await r.text();
  const h = { "x-test-user": user, "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
  await (await post(`${gw.url}/mcp/${route}`, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).text();
  return h;
}
const del = (h: Record<string, string>, route = "demo") => fetch(`${gw.url}/mcp/${route}`, { method: "DELETE", headers: h });
const call = (h: Record<string, string>, name: string, args: Record<string, unknown>, id = 1, route = "demo") =>
  post(`${gw.url}/mcp/${route}`, { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } }, h);

describe("rate limits: token bucket per principal × route × tool", () => {
  it("the burst passes, the next call is 429 RATE_LIMITED with Retry-After; other tools, routes and callers are unaffected", async () => {
    const errors: Array<{ code: string }> = [];
    const stages: StageEvent[] = [];
    const onError = (m: unknown) => errors.push(m as { code: string });
    const onStage = (m: unknown) => {
      if ((m as StageEvent).stage === "limits") stages.push(m as StageEvent);
    };
    channels.error.subscribe(onError);
    channels.stageEnd.subscribe(onStage);
    try {
      const a = await open("rita");
      for (let i = 0; i < 2; i++) expect((await call(a, "echo", { text: "x" }, 10 + i)).status).toBe(200);
      const r = await call(a, "echo", { text: "x" }, 12);
      expect(r.status).toBe(429);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const body = JSON.parse(await r.text()) as {
        id: number;
        error: { code: number; data: { gatewayCode: string; retryAfterSeconds: number } };
      };
      expect(body.id).toBe(12);
      expect(body.error.code).toBe(-32050);
      expect(body.error.data.gatewayCode).toBe("RATE_LIMITED");
      // Another tool, the same tool on another route, another caller: their own buckets.
      expect((await call(a, "add", { a: 1, b: 2 }, 13)).status).toBe(200);
      const o = await open("rita", "other");
      expect((await call(o, "echo", { text: "x" }, 14, "other")).status).toBe(200);
      const b = await open("bob");
      expect((await call(b, "echo", { text: "x" }, 15)).status).toBe(200);
      // The metric counts refusals by reason (diagnostics error channel → mcp_gateway.errors{error.type}),
      // and the audit record names the stage that refused and its code.
      expect(errors.filter((e) => e.code === "RATE_LIMITED")).toHaveLength(1);
      expect(stages.filter((s) => s.replied === "RATE_LIMITED")).toHaveLength(1);
      for (const h of [a, o, b]) await del(h, h === o ? "other" : "demo");
    } finally {
      channels.error.unsubscribe(onError);
      channels.stageEnd.unsubscribe(onStage);
    }
  });
});

describe("concurrency, sessions and streams per principal", () => {
  it("a third request in flight is 429 CONCURRENCY_LIMITED; once one ends, requests pass again", async () => {
    const h = await open("carl");
    const slow = [call(h, "wait", { ms: 1500 }, 20), call(h, "wait", { ms: 1500 }, 21)];
    let refused: Response | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await call(h, "add", { a: 1, b: 1 }, 22);
      if (r.status === 429) refused = r;
      else await r.text();
    }
    expect(refused, "never refused").toBeDefined();
    expect(gatewayCode(await refused!.text())).toBe("CONCURRENCY_LIMITED");
    for (const s of slow) expect((await messagesOf(await s))[0]!.id).toBeDefined();
    expect((await call(h, "add", { a: 1, b: 1 }, 23)).status).toBe(200);
    await del(h);
  });

  it("sessions beyond the cap are 429 SESSION_LIMIT; DELETE frees one", async () => {
    const hs = [await open("sara"), await open("sara"), await open("sara")];
    const r = await post(`${gw.url}/mcp/demo`, INIT, { "x-test-user": "sara" });
    expect(r.status).toBe(429);
    expect(gatewayCode(await r.text())).toBe("SESSION_LIMIT");
    // Another caller is not affected.
    await del(await open("sven"));
    expect((await del(hs[0]!)).status).toBe(200);
    const again = await open("sara");
    for (const h of [again, hs[1]!, hs[2]!]) await del(h);
  });

  it("a second GET stream of the caller is 429 STREAM_LIMIT; closing the first frees it", async () => {
    const h = await open("gwen");
    const first = new AbortController();
    const s1 = await fetch(`${gw.url}/mcp/demo`, { headers: { ...h, accept: "text/event-stream" }, signal: first.signal });
    expect(s1.status).toBe(200);
    const s2 = await fetch(`${gw.url}/mcp/demo`, { headers: { ...h, accept: "text/event-stream" } });
    expect(s2.status).toBe(429);
    expect(gatewayCode(await s2.text())).toBe("STREAM_LIMIT");
    first.abort();
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      const ctl = new AbortController();
      const s3 = await fetch(`${gw.url}/mcp/demo`, { headers: { ...h, accept: "text/event-stream" }, signal: ctl.signal });
      ok = s3.status === 200;
      if (ok) ctl.abort();
      else {
        await s3.text();
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(ok).toBe(true);
    await del(h);
  });
});

describe("two gateway processes share one bucket through Redis", () => {
  let redis: RedisServer;
  let dir: string;
  const children: ChildProcess[] = [];
  const urls: string[] = [];

  async function startCli(config: string): Promise<string> {
    const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
    const child = spawn(process.execPath, [cli, "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
    });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`gateway did not start: ${err}`)), 60_000);
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      child.once("exit", (code) => reject(new Error(`gateway exited ${code}: ${err}`)));
    });
  }

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), "gw-limits-"));
    const config = join(dir, "gateway.yaml");
    await writeFile(
      config,
      [
        "listen: { host: 127.0.0.1, port: 0 }",
        `sessions: { key: "${TEST_KEY}" }`,
        "logging: { level: warn }",
        "telemetry: { audit: { enabled: false } }",
        `redis: { socketPath: "${redis.socketPath}", keyPrefix: "lim:" }`,
        "limits: { routes: { demo: { tools: { echo: { requestsPerSecond: 0.2, burst: 3 } } } } }",
        `servers: { demo: { url: "${demo.url}" } }`,
        "",
      ].join("\n"),
    );
    urls.push(...(await Promise.all([startCli(config), startCli(config)])));
  }, 90_000);

  afterAll(async () => {
    await Promise.all(
      children.map((c) =>
        c.exitCode === null
          ? new Promise<void>((r) => {
              c.once("exit", () => r());
              c.kill("SIGTERM");
            })
          : undefined,
      ),
    );
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function session(url: string): Promise<Record<string, string>> {
    const r = await post(`${url}/mcp/demo`, INIT);
    expect(r.status).toBe(200);
    await r.text();
    return { "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
  }

  it("the burst is spent across both replicas: the fourth call, on either, is 429", async () => {
    const [a, b] = [await session(urls[0]!), await session(urls[1]!)];
    const echo = (url: string, h: Record<string, string>, id: number) =>
      post(`${url}/mcp/demo`, { jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text: "x" } } }, h);
    expect((await echo(urls[0]!, a, 1)).status).toBe(200);
    expect((await echo(urls[1]!, b, 2)).status).toBe(200);
    expect((await echo(urls[0]!, a, 3)).status).toBe(200);
    const r = await echo(urls[1]!, b, 4);
    expect(r.status).toBe(429);
    expect(gatewayCode(await r.text())).toBe("RATE_LIMITED");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});
