// Issue 11, item 10: every refusal leaves an audit record, including those before anything could be
// parsed (bad route, Host, media type, bad JSON, unauthenticated); a flood is aggregated, never unbounded
// and never lost: individual records up to the rate, then one counted record per (code, client, route).

import { Agent, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo } from "../../../examples/demo-server/server.ts";
import { type AuditRecord, createAuditSink, startAudit } from "../../src/log/audit.ts";
import { INIT, post, startGateway, type TestGateway } from "../helpers.ts";
import { headerAuthn, raw } from "./fixtures.ts";

let demo: Awaited<ReturnType<typeof startHttpDemo>>;
let gw: TestGateway;
const records: AuditRecord[] = [];
let stop: () => void;

beforeAll(async () => {
  demo = await startHttpDemo();
  gw = await startGateway({ demo: { url: demo.url } }, {}, { filters: [headerAuthn()] });
  const sink = createAuditSink({
    stream: {
      write: (l: string) => {
        for (const line of l.split("\n")) if (line) records.push(JSON.parse(line) as AuditRecord);
        return true;
      },
    },
  });
  stop = startAudit(sink, {});
}, 60_000);

afterAll(async () => {
  stop?.();
  await gw?.close();
  await demo?.close();
});

const flushAudit = async () => {
  // The line writer coalesces writes: give it a turn.
  await new Promise((r) => setTimeout(r, 50));
};

describe("refusals before parsing are audited", () => {
  it("bad route, Host, media type, bad JSON and unauthenticated each leave one record with the code", async () => {
    const before = records.length;
    const user = { "x-test-user": "ada", "content-type": "application/json", accept: "application/json, text/event-stream" };
    const cases: Array<[string, Promise<unknown>]> = [
      ["BAD_ROUTE", raw(gw.url, { path: "/mcp/%ZZ", headers: user, body: "{}" })],
      ["HOST_FORBIDDEN", raw(gw.url, { path: "/mcp/demo", headers: { ...user, host: "localhost:1@evil.example" }, body: "{}" })],
      ["UNSUPPORTED_MEDIA_TYPE", raw(gw.url, { path: "/mcp/demo", headers: { ...user, "content-type": "application/jsonp" }, body: "{}" })],
      ["PARSE_ERROR", raw(gw.url, { path: "/mcp/demo", headers: user, body: "{not json" })],
      ["UNAUTHENTICATED", post(`${gw.url}/mcp/demo`, INIT)],
      ["UNKNOWN_SERVER", raw(gw.url, { path: "/mcp/nope", headers: user, body: "{}" })],
    ];
    for (const [, p] of cases) {
      const r = await p;
      if (r instanceof Response) await r.text();
    }
    await flushAudit();
    const got = records.slice(before).filter((r) => r["event.action"] === "refused_before_parse");
    expect(got.map((r) => r["error.code"]).sort()).toEqual(cases.map(([c]) => c).sort());
    const parse = got.find((r) => r["error.code"] === "PARSE_ERROR")!;
    expect(parse["user.id"]).toBe("ada"); // authenticated from the headers before the body was read
    expect(parse["mcp_gateway.server"]).toBe("demo");
    expect(parse["http.response.status_code"]).toBe(400);
    expect(parse["url.path"]).toBe("/mcp/demo");
    // A request whose messages were parsed is audited per message, not twice.
    const n = records.length;
    const ok = await post(`${gw.url}/mcp/demo`, INIT, { "x-test-user": "ada" });
    await ok.text();
    await flushAudit();
    expect(records.slice(n).map((r) => r["event.action"])).toEqual(["initialize"]);
  });

  it("a flood of 2 000 refusals gives at most the burst of single records plus aggregated ones, and counts all of them", async () => {
    const before = records.length;
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const u = new URL(gw.url);
    const one = () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ host: u.hostname, port: u.port, path: "/mcp/%ZZ", method: "GET", agent }, (res) => {
          res.resume();
          res.on("end", () => resolve());
        });
        req.on("error", reject);
        req.end();
      });
    const N = 2000;
    let sent = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < N) {
          sent++;
          await one();
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    agent.destroy();
    stop(); // writes what is still aggregated
    stop = startAudit(createAuditSink({ stream: { write: () => true } }), {});
    await flushAudit();
    const mine = records.slice(before).filter((r) => r["error.code"] === "BAD_ROUTE");
    const singles = mine.filter((r) => r["event.action"] === "refused_before_parse");
    const aggregated = mine.filter((r) => r["event.action"] === "refusals_aggregated");
    // Burst 200, then 100 a second (the default rate).
    expect(singles.length).toBeLessThanOrEqual(200 + Math.ceil(100 * seconds) + 1);
    expect(singles.length).toBeLessThan(N);
    expect(aggregated.length).toBeGreaterThan(0);
    expect(aggregated.length).toBeLessThan(10 + seconds / 10);
    expect(singles.length + aggregated.reduce((s, r) => s + (r["mcp_gateway.refusals.count"] ?? 0), 0)).toBe(N);
  });
});
