// The official SDK Client through the gateway gets the same results as direct, for every upstream
// transport (Streamable HTTP, legacy SSE, stdio) and both downstream transports.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo, startSseDemo } from "../../examples/demo-server/server.ts";
import { startGateway, stdioDemo, type TestGateway } from "./helpers.ts";

let http: Awaited<ReturnType<typeof startHttpDemo>>;
let sse: Awaited<ReturnType<typeof startSseDemo>>;
let gw: TestGateway;

beforeAll(async () => {
  http = await startHttpDemo();
  sse = await startSseDemo();
  gw = await startGateway({ web: { url: http.url }, legacy: { sse: sse.url }, local: stdioDemo() });
});
afterAll(async () => {
  await gw?.close();
  await http?.close();
  await sse?.close();
});

function newClient(): Client {
  const c = new Client(
    { name: "test-client", version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
  );
  c.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
    role: "assistant",
    model: "test-model",
    content: { type: "text", text: `model saw ${JSON.stringify(req.params.messages[0]?.content).length} chars` },
  }));
  c.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { ok: true } }));
  c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///work", name: "work" }] }));
  return c;
}

async function exercise(c: Client) {
  const tools = await c.listTools();
  const echo = await c.callTool({ name: "echo", arguments: { text: "héllo ✓" } });
  const add = await c.callTool({ name: "add", arguments: { a: 2, b: 40 } });
  const progress: number[] = [];
  const count = await c.callTool({ name: "count", arguments: { n: 3, delayMs: 5 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  const fail = await c.callTool({ name: "fail", arguments: {} });
  const sampled = await c.callTool({ name: "summarize", arguments: { text: "abc" } });
  const elicited = await c.callTool({ name: "confirm", arguments: { question: "ok?" } });
  const roots = await c.callTool({ name: "list_roots", arguments: {} });
  const prompts = await c.listPrompts();
  const prompt = await c.getPrompt({ name: "greet", arguments: { name: "Ada" } });
  const resources = await c.listResources();
  const templates = await c.listResourceTemplates();
  const readme = await c.readResource({ uri: "demo://readme" });
  const item = await c.readResource({ uri: "demo://items/42" });
  let unknownTool: unknown;
  try {
    unknownTool = await c.callTool({ name: "nope", arguments: {} });
  } catch (e) {
    unknownTool = { error: (e as { code?: number }).code };
  }
  await c.ping();
  return {
    tools: tools.tools.map((t) => t.name).sort(),
    echo,
    add,
    count,
    progress,
    fail,
    sampled,
    elicited,
    roots,
    prompts,
    prompt,
    resources,
    templates,
    readme,
    item,
    unknownTool,
  };
}

async function direct(kind: "http" | "sse") {
  const c = newClient();
  await c.connect(kind === "http" ? new StreamableHTTPClientTransport(new URL(http.url)) : new SSEClientTransport(new URL(sse.url)));
  try {
    return await exercise(c);
  } finally {
    await c.close();
  }
}

describe.each([
  ["Streamable HTTP backend", "web"],
  ["legacy SSE backend", "legacy"],
  ["stdio backend", "local"],
])("%s", (_label, route) => {
  let expected: Awaited<ReturnType<typeof exercise>>;
  beforeAll(async () => {
    expected = await direct("http");
  });

  it("Streamable HTTP client through the gateway = direct", async () => {
    const c = newClient();
    const t = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`));
    await c.connect(t);
    expect(t.sessionId).toMatch(/^g1\./);
    const got = await exercise(c);
    expect(got).toEqual(expected);
    expect(got.progress).toEqual([1, 2, 3]);
    await t.terminateSession();
    await c.close();
  });

  it("legacy SSE client through the gateway = direct", async () => {
    const c = newClient();
    await c.connect(new SSEClientTransport(new URL(`${gw.url}/mcp/${route}/sse`)));
    const got = await exercise(c);
    expect(got).toEqual(expected);
    await c.close();
  });
});

it("direct legacy SSE equals direct Streamable HTTP (sanity of the comparison)", async () => {
  expect(await direct("sse")).toEqual(await direct("http"));
});

it("cancellation reaches the backend and the client gets its abort", async () => {
  for (const route of ["web", "local"]) {
    const c = newClient();
    await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`)));
    const ac = new AbortController();
    const p = c.callTool({ name: "wait", arguments: { ms: 5000 } }, undefined, { signal: ac.signal });
    setTimeout(() => ac.abort("stop"), 100);
    await expect(p).rejects.toThrow();
    // The session keeps working after a cancellation.
    const r = await c.callTool({ name: "echo", arguments: { text: "still here" } });
    expect(r.content).toEqual([{ type: "text", text: "still here" }]);
    await c.close();
  }
});
