// A 2026-07-28 client (2.x SDK, pinned) in front of backends that speak only 2025-era protocol
// (server-everything, third-party, over stdio and its legacy SSE transport), two users at once.
//
// Regression tests for issue 10, bug 4: such requests went to one shared child that was never
// initialized, so capability-gated tools were missing and one user's session resource showed up in the
// other user's list. Now the gateway learns the backend's era (server/discover, else initialize), holds a
// 2025 session per (principal, route) and maps the stateless requests onto it (bug 5, first half).

import { createHash, randomBytes } from "node:crypto";
import { Client as Client2, StreamableHTTPClientTransport as Http2 } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CreateMessageRequestSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, startConfiguredGateway } from "../src/assemble.ts";
import { parseConfig } from "../src/config/load.ts";
import { ERRORS } from "../src/errors.ts";
import { jsonLogger } from "../src/logger.ts";
import type { StdioUpstream } from "../src/upstream/stdio.ts";
import { type EverythingHttp, everythingStdio, startEverything } from "./fixtures/everything.ts";
import { TEST_KEY } from "./helpers.ts";

const V = "2026-07-28";
const KEYS = { alice: randomBytes(24).toString("base64url"), bob: randomBytes(24).toString("base64url") };
const sha = (k: string) => createHash("sha256").update(k).digest("hex");

let sse: EverythingHttp;
let gw: RunningGateway;
const logs: string[] = [];

beforeAll(async () => {
  sse = await startEverything("sse");
  const config = parseConfig(
    {
      listen: { host: "127.0.0.1", port: 0 },
      sessions: { key: TEST_KEY },
      logging: { level: "debug" },
      auth: {
        apiKeys: [
          { id: "alice-key", sha256: sha(KEYS.alice), subject: "alice" },
          { id: "bob-key", sha256: sha(KEYS.bob), subject: "bob" },
        ],
      },
      authz: false,
      servers: { "ev-stdio": everythingStdio(), "ev-sse": { sse: `${sse.base}/sse` } },
    },
    process.cwd(),
  );
  gw = await startConfiguredGateway(config, { baseDir: process.cwd(), logger: jsonLogger("debug", (l) => logs.push(l)), env: {} });
});
afterAll(async () => {
  await gw?.close();
  await sse?.close();
});

/** Bodies of the gateway's answers, per user (to see the input_required rounds on the wire). */
const wire: Record<string, string[]> = { alice: [], bob: [] };

async function modernClient(route: string, user: keyof typeof KEYS): Promise<Client2> {
  const c = new Client2(
    { name: `modern-${user}`, version: "1.0.0" },
    { capabilities: { elicitation: {}, sampling: {} }, versionNegotiation: { mode: { pin: V } } },
  );
  c.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: ELICITED }));
  c.setRequestHandler("sampling/createMessage", async () => SAMPLED);
  await c.connect(
    new Http2(new URL(`${gw.url}/mcp/${route}`), {
      requestInit: { headers: { authorization: `Bearer ${KEYS[user]}` } },
      fetch: async (input: string | URL, init?: RequestInit) => {
        const r = await fetch(input, init);
        wire[user]!.push(await r.clone().text());
        return r;
      },
    }),
  );
  return c;
}

const ELICITED = { name: "Ada Lovelace", check: true };
const SAMPLED = { role: "assistant" as const, model: "test-model", content: { type: "text" as const, text: "forty-two" } };
const textOf = (r: unknown) => (r as { content: Array<{ text?: string }> }).content.map((c) => c.text ?? "").join("\n");

const gzip = (name: string) => ({
  name: "gzip-file-as-resource",
  arguments: { name, data: `data:text/plain;base64,${Buffer.from(`content of ${name}`).toString("base64")}` },
});
const sessionResources = (r: { resources: Array<{ uri: string }> }) => r.resources.map((x) => x.uri).filter((u) => u.includes("/session/"));

/** The same steps, direct, with the 1.x client (2025-06-18) and the same capabilities: the reference. */
async function directReference() {
  const mk = async () => {
    const c = new Client({ name: "direct", version: "1.0.0" }, { capabilities: { elicitation: {}, sampling: {} } });
    c.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: ELICITED }));
    c.setRequestHandler(CreateMessageRequestSchema, async () => SAMPLED);
    await c.connect(new StdioClientTransport({ ...everythingStdio(), stderr: "ignore" }));
    return c;
  };
  const [a, b] = await Promise.all([mk(), mk()]);
  try {
    const tools = (await a.listTools()).tools.map((t) => t.name).sort();
    await a.callTool(gzip("alice.txt.gz"));
    const [ra, rb] = await Promise.all([a.listResources(), b.listResources()]);
    const echo = await b.callTool({ name: "echo", arguments: { message: "bob here" } });
    const elicited = textOf(await a.callTool({ name: "trigger-elicitation-request", arguments: {} }));
    const sampled = textOf(await b.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } }));
    return { tools, alice: sessionResources(ra), bob: sessionResources(rb), echo: echo.content, elicited, sampled };
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

describe.each(["ev-stdio", "ev-sse"])("2.x client pinned to 2026-07-28 → 2025-only %s backend", (route) => {
  let expected: Awaited<ReturnType<typeof directReference>>;
  beforeAll(async () => {
    expected = await directReference();
    expect(expected.tools).toContain("trigger-elicitation-request");
    expect(expected.elicited).toContain("Ada Lovelace");
  }, 60_000);

  it("two users at once: each gets an initialized backend of their own, same results as direct", async () => {
    const [a, b] = await Promise.all([modernClient(route, "alice"), modernClient(route, "bob")]);
    try {
      expect(a.getProtocolEra()).toBe("modern");
      // server/discover is answered from the InitializeResult of the session the gateway holds.
      const d = await a.discover();
      expect(d.supportedVersions).toEqual([V]);
      expect(d.capabilities.tools).toBeDefined();
      const tools = (await a.listTools()).tools.map((t) => t.name).sort();
      await a.callTool(gzip("alice.txt.gz"));
      const [ra, rb] = await Promise.all([a.listResources(), b.listResources()]);
      const echo = await b.callTool({ name: "echo", arguments: { message: "bob here" } });
      // Bug 5: the backend's server→client requests become input_required round trips of the call that
      // caused them; the 2.x client answers with its handlers and retries; the backend call continues.
      const elicited = textOf(await a.callTool({ name: "trigger-elicitation-request", arguments: {} }));
      const sampled = textOf(await b.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } }));
      expect({ tools, alice: sessionResources(ra), bob: sessionResources(rb), echo: echo.content, elicited, sampled }).toEqual(expected);
      expect(elicited).toContain("Ada Lovelace");
      expect(sampled).toContain("forty-two");
      expect(wire.alice!.filter((b) => b.includes('"input_required"') && b.includes("elicitation/create")).length).toBeGreaterThan(0);
      expect(wire.bob!.filter((b) => b.includes('"input_required"') && b.includes("sampling/createMessage")).length).toBeGreaterThan(0);
      // Concurrent requests of one user on its held session do not collide.
      const many = await Promise.all([1, 2, 3, 4].map((n) => a.callTool({ name: "get-sum", arguments: { a: n, b: n } })));
      expect(many.map((r) => (r.content as Array<{ text: string }>)[0]!.text)).toEqual(
        [2, 4, 6, 8].map((n) => `The sum of ${n / 2} and ${n / 2} is ${n}.`),
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);
});

it("the stdio route knows its backend's era and holds one child per principal", async () => {
  const up = gw.gateway.routes.get("ev-stdio")!.upstream as StdioUpstream;
  expect(up.era).toBe("legacy");
  expect(up.modernSize).toBe(2);
});

it("a retry whose requestState the gateway did not mint for this caller → CROSS_ERA_UNMAPPABLE, nothing reaches the backend", async () => {
  const meta = {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
    "io.modelcontextprotocol/clientCapabilities": { elicitation: {} },
  };
  const r = await fetch(`${gw.url}/mcp/ev-stdio`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${KEYS.bob}`,
      "mcp-protocol-version": V,
      "mcp-method": "tools/call",
      "mcp-name": "trigger-elicitation-request",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 7,
      method: "tools/call",
      params: {
        name: "trigger-elicitation-request",
        arguments: {},
        requestState: "mcp-gateway-held.not-minted-for-bob",
        inputResponses: { "gateway-input": { action: "accept", content: {} } },
        _meta: meta,
      },
    }),
  });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { id: number; error: { code: number; data: { gatewayCode: string } } };
  expect(body).toMatchObject({ id: 7, error: { code: ERRORS.CROSS_ERA_UNMAPPABLE.rpc, data: { gatewayCode: "CROSS_ERA_UNMAPPABLE" } } });
});
