// Issue 11, item 15: stdio children are capped per route and per caller; at a cap the oldest idle child
// is reaped first, and when none is idle the new session is refused with CHILD_LIMIT. Real children
// (the demo server over stdio, 1.x SDK) behind a real gateway.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StdioUpstream } from "../../src/upstream/stdio.ts";
import { INIT, messagesOf, post, startGateway, stdioDemo, type TestGateway } from "../helpers.ts";
import { headerAuthn } from "./fixtures.ts";

let gw: TestGateway;
const url = () => `${gw.url}/mcp/local`;

beforeAll(async () => {
  gw = await startGateway({ local: { ...stdioDemo(), maxChildren: 3, maxChildrenPerPrincipal: 2 } }, {}, { filters: [headerAuthn()] });
}, 60_000);

afterAll(async () => {
  await gw?.close();
});

async function open(user: string): Promise<Record<string, string>> {
  const r = await post(url(), INIT, { "x-test-user": user });
  const body = await r.text();
  expect(r.status, body).toBe(200);
  const sid = r.headers.get("mcp-session-id");
  if (!sid) throw new Error(`no session: ${body}`);
  return { "x-test-user": user, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
}
const ping = async (h: Record<string, string>) => {
  const r = await post(url(), { jsonrpc: "2.0", id: 2, method: "ping" }, h);
  await r.text();
  return r.status;
};
const children = () => (gw.routes.get("local")!.upstream as StdioUpstream).size;

describe("stdio children per caller and per route", () => {
  it("a caller's third session reaps its own oldest idle child; the route cap reaps anyone's oldest idle one", async () => {
    const a1 = await open("ann");
    const a2 = await open("ann");
    expect(await ping(a2)).toBe(200); // a2 used after a1: a1 is the older idle one
    const a3 = await open("ann");
    expect(children()).toBe(2);
    expect(await ping(a1)).toBe(404);
    expect(await ping(a2)).toBe(200);
    expect(await ping(a3)).toBe(200);
    const b1 = await open("ben");
    expect(children()).toBe(3);
    // Route full (3): the oldest idle child overall goes (a2 was used before a3 and b1).
    expect(await ping(a3)).toBe(200);
    expect(await ping(b1)).toBe(200);
    const c1 = await open("cid");
    expect(children()).toBe(3);
    expect(await ping(a2)).toBe(404);
    for (const h of [a3, b1, c1]) await fetch(url(), { method: "DELETE", headers: h });
  });

  it("when every child of the caller is busy, a new session is refused with CHILD_LIMIT and nothing is killed", async () => {
    const d1 = await open("dee");
    const d2 = await open("dee");
    const busy = [d1, d2].map((h, i) =>
      post(url(), { jsonrpc: "2.0", id: 10 + i, method: "tools/call", params: { name: "wait", arguments: { ms: 1500 } } }, h),
    );
    // Wait until both calls are in flight at their children (bounded).
    let refused: Array<Record<string, unknown>> | undefined;
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await post(url(), INIT, { "x-test-user": "dee" });
      const msgs = await messagesOf(r);
      const e = msgs[0] as { error?: { data?: { gatewayCode?: string } } };
      if (e.error?.data?.gatewayCode === "CHILD_LIMIT") refused = msgs;
      else {
        const sid = r.headers.get("mcp-session-id");
        if (sid) await fetch(url(), { method: "DELETE", headers: { "x-test-user": "dee", "mcp-session-id": sid } });
        await new Promise((res) => setTimeout(res, 20));
      }
    }
    expect(refused, "never refused").toBeDefined();
    for (const b of busy) expect(JSON.stringify(await messagesOf(await b))).toContain("waited");
    for (const h of [d1, d2]) await fetch(url(), { method: "DELETE", headers: h });
  });
});
