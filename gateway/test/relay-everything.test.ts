// The reference server `@modelcontextprotocol/server-everything` (third-party) behind the gateway over
// stdio, its legacy SSE transport and Streamable HTTP, driven by the 1.x SDK client over both downstream
// transports (Streamable HTTP, and the 2024-11-05 `/sse` endpoint): every observation equals direct.
//
// Regression tests for issue 10, bugs 1–3: unsolicited server messages (the `roots/list` server-everything
// sends after initialize, its periodic `notifications/message`) reached a finished call's stream and were
// lost; a server→client request caused after another call had finished went to that closed stream; and
// 2024-11-05 clients got answers strictly in request order (a ping waited for a long tool call).

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EverythingHttp, everythingStdio, startEverything } from "./fixtures/everything.ts";
import { startGateway, type TestGateway } from "./helpers.ts";

let sse: EverythingHttp;
let http: EverythingHttp;
let gw: TestGateway;

beforeAll(async () => {
  [sse, http] = await Promise.all([startEverything("sse"), startEverything("streamableHttp")]);
  gw = await startGateway({
    "ev-stdio": everythingStdio(),
    "ev-sse": { sse: `${sse.base}/sse` },
    "ev-http": { url: `${http.base}/mcp` },
  });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([sse?.close(), http?.close()]);
});

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Observed {
  roots: number;
  logs: string[];
}

function newClient(seen: Observed): Client {
  const c = new Client(
    { name: "everything-test", version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
  );
  c.setRequestHandler(ListRootsRequestSchema, async () => {
    seen.roots++;
    return { roots: [{ uri: "file:///work", name: "work" }] };
  });
  c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const first = req.params.messages[0]?.content;
    const text = first && "text" in first ? String(first.text) : "";
    return { role: "assistant", model: "test-model", content: { type: "text", text: `sampled ${text.length} chars` } };
  });
  c.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: {} }));
  c.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
    seen.logs.push(typeof n.params.data === "string" ? n.params.data : JSON.stringify(n.params.data));
  });
  return c;
}

type Backend = "stdio" | "sse" | "http";
type Path = "direct" | "gateway-http" | "gateway-sse";

function transportFor(backend: Backend, path: Path): Transport {
  if (path === "direct") {
    if (backend === "stdio") return new StdioClientTransport({ ...everythingStdio(), stderr: "ignore" });
    if (backend === "sse") return new SSEClientTransport(new URL(`${sse.base}/sse`));
    return new StreamableHTTPClientTransport(new URL(`${http.base}/mcp`));
  }
  const url = `${gw.url}/mcp/ev-${backend}`;
  return path === "gateway-http" ? new StreamableHTTPClientTransport(new URL(url)) : new SSEClientTransport(new URL(`${url}/sse`));
}

const text = (r: unknown) => ((r as { content: Array<{ text?: string }> }).content[0]?.text ?? "").replace(/session [^ .]+/gi, "session S");

/** One session's worth of the behaviours that differed: returns what the client saw, comparable across paths. */
async function exercise(backend: Backend, path: Path) {
  const seen: Observed = { roots: 0, logs: [] };
  const c = newClient(seen);
  await c.connect(transportFor(backend, path));
  try {
    const tools = (await c.listTools()).tools.map((t) => t.name).sort();
    // Bug 1: the roots/list server-everything sends ~350 ms after initialize, and the log line it sends
    // once the client answered, arrive although the call above has already finished.
    await until(() => seen.logs.some((l) => l.startsWith("Roots updated")), "the roots/list after initialize");
    // Bug 2: a server→client request caused after a call finished (roots/list_changed → roots/list).
    await c.callTool({ name: "echo", arguments: { message: "done first" } });
    await c.sendRootsListChanged();
    await until(() => seen.roots >= 2 && seen.logs.filter((l) => l.startsWith("Roots updated")).length >= 2, "the second roots/list");
    // Periodic unsolicited notifications/message (one at once, then every 5 s).
    await c.setLoggingLevel("debug");
    const logging = await c.callTool({ name: "toggle-simulated-logging", arguments: {} });
    const logsBefore = seen.logs.length;
    // Bug 3: a ping during a 3 s tool call answers at once; concurrent calls with server→client
    // requests (sampling) and plain calls all complete.
    let longDone = false;
    const long = c.callTool({ name: "trigger-long-running-operation", arguments: { duration: 3, steps: 3 } }).then((r) => {
      longDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    await c.ping();
    const pingBeforeLongCall = !longDone;
    const [s1, s2, e1] = await Promise.all([
      c.callTool({ name: "trigger-sampling-request", arguments: { prompt: "first", maxTokens: 5 } }),
      c.callTool({ name: "trigger-sampling-request", arguments: { prompt: "second one", maxTokens: 5 } }),
      c.callTool({ name: "echo", arguments: { message: "concurrent" } }),
    ]);
    const longResult = await long;
    await until(() => seen.logs.length >= logsBefore + 2, "periodic notifications/message");
    await c.callTool({ name: "toggle-simulated-logging", arguments: {} });
    return {
      tools,
      roots: seen.roots >= 2,
      logging: text(logging),
      pingBeforeLongCall,
      sampled: [text(s1), text(s2)],
      echo: text(e1),
      long: text(longResult),
    };
  } finally {
    await c.close();
  }
}

describe.each<Backend>(["stdio", "sse", "http"])("server-everything over %s", (backend) => {
  let expected: Awaited<ReturnType<typeof exercise>>;
  beforeAll(async () => {
    expected = await exercise(backend, "direct");
    expect(expected.pingBeforeLongCall).toBe(true);
  }, 60_000);

  it("Streamable HTTP client through the gateway = direct", async () => {
    expect(await exercise(backend, "gateway-http")).toEqual(expected);
  }, 60_000);

  it("2024-11-05 SSE client through the gateway = direct", async () => {
    expect(await exercise(backend, "gateway-sse")).toEqual(expected);
  }, 60_000);
});
