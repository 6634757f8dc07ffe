// Argument validation and pins in the 2026-07-28 era (no sessions): the 2.x SDK client through an
// authenticated gateway in front of the 2.x SDK fixture server.

import { randomBytes } from "node:crypto";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { hashApiKey } from "../../src/filters/authn/api-keys.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { startModernHttp } from "../fixtures/modern-server.ts";
import { TEST_KEY } from "../helpers.ts";

const KEY = randomBytes(24).toString("base64url");
let backend: Awaited<ReturnType<typeof startModernHttp>>;
let gw: RunningGateway;

beforeAll(async () => {
  backend = await startModernHttp();
  const tree = {
    listen: { host: "127.0.0.1", port: 0 },
    sessions: { key: TEST_KEY },
    logging: { level: "silent" },
    servers: { modern: { url: backend.url } },
    auth: { apiKeys: [{ id: "k", sha256: hashApiKey(KEY), subject: "agent" }] },
    authz: false,
    telemetry: { audit: { enabled: false } },
  };
  gw = await startConfiguredGateway(parseConfig(tree, process.cwd()), { baseDir: process.cwd(), logger: silentLogger });
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await backend?.close();
});

it("2026-07-28: invalid arguments are refused with the failing path; valid ones run", async () => {
  const c = new Client({ name: "modern-governance", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  const f: typeof fetch = (input, init) => {
    const h = new Headers(init?.headers);
    h.set("authorization", `Bearer ${KEY}`);
    return fetch(input, { ...init, headers: h });
  };
  await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/modern`), { fetch: f }));
  try {
    expect(c.getProtocolEra()).toBe("modern");
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("add");
    expect(await c.callTool({ name: "add", arguments: { a: 2, b: 40 } })).toMatchObject({ content: [{ text: "42" }] });
    const before = backend.seen.length;
    let err: unknown;
    try {
      await c.callTool({ name: "add", arguments: { a: 2, b: "40" } });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: -32602, data: { gatewayCode: "ARGUMENTS_INVALID", tool: "add", path: "/b" } });
    expect(backend.seen.length).toBe(before); // the backend never saw the bad call
  } finally {
    await c.close();
  }
});
