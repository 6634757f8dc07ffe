// Virtual servers for 2026-07-28 (stateless) callers: a 2.x SDK client pinned to 2026-07-28 on /mcp/ops of an
// authenticated gateway (API keys with groups, the committed wasm policy) over an HTTP, a stdio and a down member.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as Client2, StreamableHTTPClientTransport as Http2 } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ERRORS } from "../../src/errors.ts";
import { hashApiKey } from "../../src/filters/authn/api-keys.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { type ChangingBackend, startChangingBackend } from "../governance/backend.ts";
import { stdioDemo, TEST_KEY } from "../helpers.ts";

const DESK = randomBytes(24).toString("base64url");
const NETENG = randomBytes(24).toString("base64url");
const V = "2026-07-28";

let dir: string;
let http: ChangingBackend;
let gw: RunningGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "virtual-modern-"));
  http = await startChangingBackend();
  const tree = {
    listen: { host: "127.0.0.1", port: 0 },
    sessions: { key: TEST_KEY },
    logging: { level: "silent" },
    servers: {
      "catalyst-center": { url: http.url },
      devices: { ...stdioDemo(), authz: { actions: { count: "read" } } },
      workflows: { url: "http://127.0.0.1:1/mcp" },
    },
    virtualServers: { ops: { servers: ["catalyst-center", "devices", "workflows"] } },
    auth: {
      apiKeys: [
        { id: "desk", sha256: hashApiKey(DESK), subject: "alice", groups: ["service-desk"] },
        { id: "neteng", sha256: hashApiKey(NETENG), subject: "bob", groups: ["network-engineers"] },
      ],
    },
    authz: { engine: { type: "wasm", watch: false }, decisionLog: { enabled: false } },
    telemetry: { audit: { enabled: false } },
  };
  gw = await startConfiguredGateway(parseConfig(tree, dir), { baseDir: dir, logger: silentLogger });
}, 90_000);

afterAll(async () => {
  await gw?.close();
  await http?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function modern(key: string): Promise<Client2> {
  const c = new Client2({ name: "virtual-modern", version: "1" }, { versionNegotiation: { mode: { pin: V } } });
  await c.connect(new Http2(new URL(`${gw.url}/mcp/ops`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
  return c;
}

async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    return (e as { code: number }).code;
  }
  throw new Error("expected an error");
}

describe("virtual server, 2026-07-28 callers", () => {
  it("each user sees the merged list their policy allows; calls are routed to the member with its own tool name", async () => {
    const [desk, neteng] = await Promise.all([modern(DESK), modern(NETENG)]);
    try {
      const d = (await desk.listTools()).tools.map((t) => t.name).sort();
      const n = (await neteng.listTools()).tools.map((t) => t.name).sort();
      expect(d).toContain("catalyst-center__echo");
      expect(d).not.toContain("catalyst-center__deploy_template");
      expect(d.filter((t) => t.startsWith("devices__"))).toEqual([]);
      expect(n).toEqual(expect.arrayContaining(["catalyst-center__deploy_template", "catalyst-center__echo", "devices__add"]));
      const before = http.calls.length;
      expect(await neteng.callTool({ name: "catalyst-center__echo", arguments: { text: "modern" } })).toMatchObject({
        content: [{ type: "text", text: "modern" }],
      });
      expect(http.calls.slice(before)).toEqual([{ tool: "echo", args: { text: "modern" } }]);
      expect(await neteng.callTool({ name: "devices__add", arguments: { a: 4, b: 5 } })).toMatchObject({ structuredContent: { sum: 9 } });
      expect(await codeOf(desk.callTool({ name: "devices__add", arguments: { a: 1, b: 1 } }))).toBe(ERRORS.AUTHZ_DENIED.rpc);
      expect(await codeOf(neteng.callTool({ name: "nowhere__x", arguments: {} }))).toBe(ERRORS.VIRTUAL_UNKNOWN_NAME.rpc);
      expect(await codeOf(neteng.callTool({ name: "workflows__x", arguments: {} }))).toBe(ERRORS.VIRTUAL_BACKEND_UNAVAILABLE.rpc);
    } finally {
      await Promise.all([desk.close(), neteng.close()]);
    }
  }, 60_000);

  it("resources and prompts of the members are merged and read through the member that serves them", async () => {
    const c = await modern(NETENG);
    try {
      const direct = new Client2({ name: "direct", version: "1" }, { versionNegotiation: { mode: { pin: V } } });
      await direct.connect(
        new Http2(new URL(`${gw.url}/mcp/devices`), { requestInit: { headers: { authorization: `Bearer ${NETENG}` } } }),
      );
      try {
        const mine = (await direct.listResources()).resources.map((r) => r.uri).sort();
        const merged = (await c.listResources()).resources.map((r) => r.uri);
        for (const u of mine) expect(merged).toContain(u);
        if (mine.length > 0) {
          const read = await c.readResource({ uri: mine[0]! });
          expect(read.contents.length).toBeGreaterThan(0);
          expect(read.contents).toEqual((await direct.readResource({ uri: mine[0]! })).contents);
        }
        const prompts = (await direct.listPrompts()).prompts.map((p) => `devices__${p.name}`);
        const mergedPrompts = (await c.listPrompts()).prompts.map((p) => p.name);
        for (const p of prompts) expect(mergedPrompts).toContain(p);
      } finally {
        await direct.close();
      }
      expect(await codeOf(c.readResource({ uri: "nowhere://x" }))).toBe(ERRORS.VIRTUAL_UNKNOWN_NAME.rpc);
    } finally {
      await c.close();
    }
  }, 60_000);
});
