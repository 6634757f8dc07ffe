// The reverse cross-era direction (issue 10, bug 5): a 2025-era client (1.x SDK, 2025-06-18) through the
// gateway to a stdio backend that speaks only 2026-07-28 (the 2.x SDK's serveStdio with legacy: "reject",
// which refuses initialize). The gateway answers initialize from server/discover, adds the 2026 `_meta`
// to every request, and turns input_required results into server→client requests on the call's stream.
// Reference: the same server code serving its own 2025 era (serveStdio's default), through the gateway.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { StdioUpstream } from "../src/upstream/stdio.ts";
import { MODERN_SERVER } from "./fixtures/modern-server.ts";
import { startGateway, type TestGateway } from "./helpers.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway({
    "modern-only": { command: process.execPath, args: [MODERN_SERVER, "--stdio-modern-only"] },
    "dual-era": { command: process.execPath, args: [MODERN_SERVER, "--stdio"] },
  });
});
afterAll(async () => {
  await gw?.close();
});

async function exercise(route: string) {
  const c = new Client({ name: "legacy-client", version: "1.0.0" }, { capabilities: { elicitation: {} } });
  let asked = 0;
  c.setRequestHandler(ElicitRequestSchema, async () => {
    asked++;
    return { action: "accept", content: { confirm: true } };
  });
  const t = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`));
  await c.connect(t);
  try {
    const progress: number[] = [];
    const out = {
      version: t.protocolVersion,
      server: c.getServerVersion(),
      tools: (await c.listTools()).tools.map((x) => x.name).sort(),
      echo: await c.callTool({ name: "echo", arguments: { text: "héllo ✓" } }),
      add: await c.callTool({ name: "add", arguments: { a: 2, b: 40 } }),
      count: await c.callTool({ name: "count", arguments: { n: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) }),
      confirm: (await c.callTool({ name: "confirm", arguments: { question: "deploy?" } })).content,
      prompt: await c.getPrompt({ name: "greet", arguments: { name: "Ada" } }),
      readme: await c.readResource({ uri: "demo://readme" }),
      ping: await c.ping(),
      progress,
      asked,
    };
    await t.terminateSession();
    return out;
  } finally {
    await c.close();
  }
}

it("a 1.x client gets from a 2026-07-28-only backend what the same server gives in its own 2025 era", async () => {
  const expected = await exercise("dual-era");
  expect(expected.asked).toBe(1);
  const got = await exercise("modern-only");
  expect(got).toEqual(expected);
  const up = gw.routes.get("modern-only")!.upstream as StdioUpstream;
  expect(up.era).toBe("modern");
}, 60_000);
