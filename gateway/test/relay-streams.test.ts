// Streams through the gateway: */list_changed reaches the client from every backend transport, and
// a dropped SSE stream is resumed with Last-Event-ID (the header goes to the backend, the replay comes back).

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo, startSseDemo } from "../../examples/demo-server/server.ts";
import { SseParser } from "../src/codec/sse.ts";
import { openSession, startGateway, stdioDemo, type TestGateway } from "./helpers.ts";

let http: Awaited<ReturnType<typeof startHttpDemo>>;
let sse: Awaited<ReturnType<typeof startSseDemo>>;
let gw: TestGateway;

beforeAll(async () => {
  http = await startHttpDemo({ resumable: true });
  sse = await startSseDemo();
  gw = await startGateway({ web: { url: http.url }, legacy: { sse: sse.url }, local: stdioDemo() });
});
afterAll(async () => {
  await gw?.close();
  await http?.close();
  await sse?.close();
});

describe.each(["web", "legacy", "local"])("%s backend", (route) => {
  it("notifications/tools/list_changed reaches the client", async () => {
    const c = new Client({ name: "t", version: "1" });
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      changed++;
    });
    await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`)));
    await c.callTool({ name: "touch_tools", arguments: {} });
    for (let i = 0; i < 40 && changed === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(changed).toBe(1);
    await c.close();
  });
});

async function readEvents(body: ReadableStream<Uint8Array>, until: (evs: ReturnType<SseParser["push"]>) => boolean) {
  const parser = new SseParser();
  const events: ReturnType<SseParser["push"]> = [];
  const reader = body.getReader();
  const dec = new TextDecoder();
  for (let i = 0; i < 1000; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    events.push(...parser.push(dec.decode(value, { stream: true })));
    if (until(events)) break;
  }
  await reader.cancel().catch(() => {});
  return events;
}

it("an interrupted SSE answer is resumed through the gateway with Last-Event-ID", async () => {
  const url = `${gw.url}/mcp/web`;
  const sid = await openSession(url);
  const h = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-session-id": sid,
    "mcp-protocol-version": "2025-06-18",
  };
  const call = {
    jsonrpc: "2.0",
    id: 42,
    method: "tools/call",
    params: { name: "count", arguments: { n: 6, delayMs: 60 }, _meta: { progressToken: "p" } },
  };
  const first = await fetch(url, { method: "POST", headers: h, body: JSON.stringify(call) });
  expect(first.headers.get("content-type")).toContain("text/event-stream");
  // Read two progress events, then drop the connection.
  const seen = await readEvents(first.body!, (evs) => evs.filter((e) => e.data.includes("progress")).length >= 2);
  const lastId = [...seen].reverse().find((e) => e.id)?.id;
  expect(lastId).toBeTruthy();
  const progressBefore = seen.filter((e) => e.data.includes("notifications/progress")).map((e) => JSON.parse(e.data).params.progress);
  // Resume: GET with Last-Event-ID replays what came after, then the answer.
  const resumed = await fetch(url, {
    method: "GET",
    headers: { accept: "text/event-stream", "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18", "last-event-id": lastId! },
  });
  expect(resumed.status).toBe(200);
  const rest = await readEvents(resumed.body!, (evs) => evs.some((e) => e.data.includes('"id":42')));
  const progressAfter = rest.filter((e) => e.data.includes("notifications/progress")).map((e) => JSON.parse(e.data).params.progress);
  const answer = rest.map((e) => (e.data ? JSON.parse(e.data) : {})).find((m) => m.id === 42);
  expect(answer).toMatchObject({ result: { content: [{ type: "text", text: "counted to 6" }] } });
  // Nothing lost, nothing repeated.
  expect([...progressBefore, ...progressAfter]).toEqual([1, 2, 3, 4, 5, 6]);
});
