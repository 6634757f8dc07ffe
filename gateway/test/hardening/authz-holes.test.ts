// Issue 11, items 1–4: the authorization holes found by attack, through a real gateway (HTTP listener,
// relay, the OPA policy compiled to wasm by the real OPA) in front of real SDK backends, and a real
// redis-server for revocations shared by two replicas.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo } from "../../../examples/demo-server/server.ts";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import { createAuthzFilter } from "../../src/filters/authz/filter.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { type Backend, startBackend } from "../acceptance/fixtures.ts";
import { INIT, messagesOf, post, startGateway, type TestGateway } from "../helpers.ts";
import {
  buildBundle,
  gatewayCode,
  headerAuthn,
  type InventoryBackend,
  type RedisServer,
  startInventoryBackend,
  startRedis,
} from "./fixtures.ts";

let dir: string;
let wasm: WasmEngine;
let demo: Awaited<ReturnType<typeof startHttpDemo>>;
let gw: TestGateway;
let inventory: InventoryBackend;

const ITEMS = { "x-test-user": "ivy", "x-test-groups": "item-readers" };
const TOOLS = { "x-test-user": "tom", "x-test-groups": "tool-limited" };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gw-holes-"));
  const bundle = await buildBundle(dir, {
    "item-readers": [{ server: "inventory", actions: ["read"], targets: ["catalyst://inventory/public/*"] }],
    "tool-limited": [{ server: "catalyst-center", actions: ["read", "write", "execute"], targets: ["echo", "wait"] }],
  });
  [wasm, demo, inventory] = await Promise.all([
    WasmEngine.create({ bundlePath: bundle, watch: false }),
    startHttpDemo(),
    startInventoryBackend(),
  ]);
  const authorizer = new Authorizer({ engine: wasm, sink: () => {}, logger: { info() {}, warn() {}, error() {} } });
  gw = await startGateway(
    { "catalyst-center": { url: demo.url }, inventory: { url: inventory.url } },
    {},
    { filters: [headerAuthn(), createAuthzFilter({ authorizer })] },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await demo?.close();
  await inventory?.close();
  await wasm?.close();
  await rm(dir, { recursive: true, force: true });
});

async function session(headers: Record<string, string>, pv = "2025-06-18", route = "catalyst-center"): Promise<Record<string, string>> {
  const r = await post(`${gw.url}/mcp/${route}`, { ...INIT, params: { ...INIT.params, protocolVersion: pv } }, headers);
  expect(r.status, await r.clone().text()).toBe(200);
  await r.text();
  const sid = r.headers.get("mcp-session-id")!;
  const h = { ...headers, "mcp-session-id": sid, "mcp-protocol-version": pv };
  await (await post(`${gw.url}/mcp/${route}`, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).text();
  return { ...h, route };
}

interface Answer {
  status: number;
  /** The JSON-RPC answer (a JSON body, or the last message of an SSE stream). */
  msg: {
    result?: { contents?: Array<{ uri?: string; text?: string }>; tools?: Array<{ name: string }>; completion?: { values: string[] } };
    error?: { code: number; data?: { gatewayCode?: string } };
  };
}

async function rpc(h: Record<string, string>, method: string, params: unknown, id: number | string = 2): Promise<Answer> {
  const { route = "catalyst-center", ...headers } = h;
  const r = await post(`${gw.url}/mcp/${route}`, { jsonrpc: "2.0", id, method, params }, headers);
  const msgs = await messagesOf(r);
  return { status: r.status, msg: (msgs.at(-1) ?? {}) as Answer["msg"] };
}
const codeOf = (a: Answer) => a.msg.error?.data?.gatewayCode;

describe("item 1: resource URIs are authorized and sent in their canonical form", () => {
  it("dot segments, escaped dots and ./.. cannot climb out of an allowed prefix; the backend gets the authorized form", async () => {
    const h = await session(ITEMS, "2025-06-18", "inventory");
    const ok = await rpc(h, "resources/read", { uri: "catalyst://inventory/public/./info" });
    expect(ok.msg.result?.contents?.[0]?.text).toBe("public");
    expect(inventory.reads.at(-1)).toBe("catalyst://inventory/public/info");
    const before = inventory.reads.length;
    for (const uri of [
      "catalyst://inventory/public/../secret/keys",
      "catalyst://inventory/public/%2e%2e/secret/keys",
      "catalyst://inventory/public/%2E%2E/secret/keys",
      "catalyst://inventory/public/./../secret/keys",
      "catalyst://inventory/public/info/../../secret/keys",
      "CATALYST://INVENTORY/public/.%2E/secret/keys",
    ]) {
      // A refused message of a body is answered in-band: a JSON-RPC error (HTTP 200), nothing sent upstream.
      const r = await rpc(h, "resources/read", { uri });
      expect(codeOf(r), uri).toBe("AUTHZ_DENIED");
    }
    expect(inventory.reads.length, "a refused read reached the backend").toBe(before);
  });

  it("what has no canonical form is refused with INVALID_RESOURCE_URI (control characters, bad escapes, escaped separators)", async () => {
    const h = await session(ITEMS, "2025-06-18", "inventory");
    for (const uri of [
      "catalyst://inventory/public/\t../secret/keys",
      "catalyst://inventory/public/%zz",
      "catalyst://inventory/public/..%2Fsecret/keys",
      "catalyst://inventory/public/%252e%252e/secret/keys",
      "no-scheme/public/x",
      "catalyst://inventory/public/..\\secret\\keys",
    ]) {
      const r = await rpc(h, "resources/read", { uri });
      expect(r.status, JSON.stringify(uri)).toBe(400);
      expect(codeOf(r), JSON.stringify(uri)).toBe("INVALID_RESOURCE_URI");
    }
  });
});

describe("item 2: request ids cannot be shared to dodge list filtering", () => {
  it("a batch whose requests share an id is refused; a clean batch is filtered per request", async () => {
    const h = await session(TOOLS, "2025-03-26");
    const dup = await post(
      `${gw.url}/mcp/catalyst-center`,
      [
        { jsonrpc: "2.0", id: 7, method: "tools/list" },
        { jsonrpc: "2.0", id: 7, method: "ping" },
      ],
      h,
    );
    expect(dup.status).toBe(400);
    expect(gatewayCode(await dup.text())).toBe("DUPLICATE_REQUEST_ID");
    const mixed = await post(
      `${gw.url}/mcp/catalyst-center`,
      [
        { jsonrpc: "2.0", id: 7, method: "tools/list" },
        { jsonrpc: "2.0", id: "7", method: "ping" },
      ],
      h,
    );
    expect(mixed.status).toBe(400);
    expect(gatewayCode(await mixed.text())).toBe("DUPLICATE_REQUEST_ID");
    const clean = await post(
      `${gw.url}/mcp/catalyst-center`,
      [
        { jsonrpc: "2.0", id: 7, method: "tools/list" },
        { jsonrpc: "2.0", id: 8, method: "ping" },
      ],
      h,
    );
    const msgs = await messagesOf(clean);
    const list = msgs.find((m) => m.id === 7) as { result: { tools: Array<{ name: string }> } };
    expect(list.result.tools.map((t) => t.name).sort()).toEqual(["echo", "wait"]);
  });

  it("an id still in flight in the session is refused; once answered it may be used again", async () => {
    const h = await session(TOOLS);
    const slow = post(
      `${gw.url}/mcp/catalyst-center`,
      { jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "wait", arguments: { ms: 1500 } } },
      h,
    );
    // Wait until the first request is really in flight at the backend (bounded).
    let clash: Answer | undefined;
    for (let i = 0; i < 100; i++) {
      const r = await rpc(h, "tools/list", {}, 5);
      if (r.status === 400) {
        clash = r;
        break;
      }
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(clash, "the second request with id 5 was never refused").toBeDefined();
    expect(codeOf(clash!)).toBe("DUPLICATE_REQUEST_ID");
    const first = await messagesOf(await slow);
    expect(first[0]!.id).toBe(5);
    const again = await rpc(h, "tools/list", {}, 5);
    expect(again.status).toBe(200);
    expect(again.msg.result!.tools!.map((t) => t.name).sort()).toEqual(["echo", "wait"]);
  });
});

describe("item 3: completion/complete is authorized on what the backend completes", () => {
  it("ref/resource is decided on its URI template, ref/prompt on its name; the other field cannot smuggle a grant", async () => {
    const h = await session(ITEMS, "2025-06-18", "inventory");
    const arg = { name: "name", value: "k" };
    const seen = inventory.completions.length;
    const smuggled = await rpc(h, "completion/complete", {
      ref: { type: "ref/resource", uri: "catalyst://inventory/secret/{name}", name: "catalyst://inventory/public/x" },
      argument: arg,
    });
    expect(codeOf(smuggled)).toBe("AUTHZ_DENIED");
    const prompt = await rpc(h, "completion/complete", {
      ref: { type: "ref/prompt", name: "greet", uri: "catalyst://inventory/public/{name}" },
      argument: arg,
    });
    expect(codeOf(prompt)).toBe("AUTHZ_DENIED");
    const climbing = await rpc(h, "completion/complete", {
      ref: { type: "ref/resource", uri: "catalyst://inventory/public/../secret/{name}" },
      argument: arg,
    });
    expect(codeOf(climbing)).toBe("AUTHZ_DENIED");
    expect(inventory.completions.length, "a refused completion reached the backend").toBe(seen);
    const allowed = await rpc(h, "completion/complete", {
      ref: { type: "ref/resource", uri: "catalyst://inventory/public/{name}" },
      argument: { name: "name", value: "" },
    });
    expect(allowed.status).toBe(200);
    expect(allowed.msg.result?.completion?.values).toEqual(["info", "status"]);
  });
});

describe("item 4: a session id has one spelling, and an ended one stays ended", () => {
  it("padding or another alphabet is not the same session; after DELETE no spelling comes back", async () => {
    const h = await session(TOOLS);
    const sid = h["mcp-session-id"]!;
    for (const other of [`${sid}=`, `${sid}==`, sid.replace(/-/g, "+").replace(/_/g, "/"), ` ${sid}`]) {
      if (other === sid) continue;
      const r = await rpc({ ...h, "mcp-session-id": other.trim() === sid ? `${sid}.` : other }, "ping", {});
      expect(r.status, other).toBe(404);
    }
    expect((await rpc(h, "ping", {})).status).toBe(200);
    const del = await fetch(`${gw.url}/mcp/catalyst-center`, { method: "DELETE", headers: h });
    expect(del.status).toBe(200);
    for (const other of [sid, `${sid}=`, `${sid}==`]) {
      const r = await rpc({ ...h, "mcp-session-id": other }, "ping", {});
      expect(r.status, other).toBe(404);
      expect(codeOf(r)).toBe("SESSION_NOT_FOUND");
    }
  });
});

describe("item 4: revocations shared through Redis (two replicas, a real redis-server)", () => {
  let redis: RedisServer;
  let backend: Backend;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    [redis, backend] = await Promise.all([startRedis(), startBackend("catalyst-center")]);
    const extra = { redis: { socketPath: redis.socketPath, keyPrefix: "t:", commandTimeoutMs: 1000 } };
    // A stateless backend never answers 404: only the shared store can tell replica B that the session ended.
    [a, b] = await Promise.all([
      startGateway({ "catalyst-center": { url: backend.url } }, extra, { filters: [headerAuthn()] }),
      startGateway({ "catalyst-center": { url: backend.url } }, extra, { filters: [headerAuthn()] }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await backend?.close();
    await redis?.stop();
  });

  async function open(g: TestGateway): Promise<Record<string, string>> {
    const r = await post(`${g.url}/mcp/catalyst-center`, INIT, TOOLS);
    expect(r.status).toBe(200);
    await r.text();
    return { ...TOOLS, "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
  }
  const ping = (g: TestGateway, h: Record<string, string>) =>
    post(`${g.url}/mcp/catalyst-center`, { jsonrpc: "2.0", id: 3, method: "ping" }, h);

  it("a session deleted on replica A is refused by replica B, until its own expiry (the key's TTL)", async () => {
    const h = await open(a);
    expect((await ping(b, h)).status).toBe(200);
    expect((await fetch(`${a.url}/mcp/catalyst-center`, { method: "DELETE", headers: h })).status).toBe(200);
    const r = await ping(b, h);
    expect(r.status).toBe(404);
    expect(gatewayCode(await r.text())).toBe("SESSION_NOT_FOUND");
    const { createClient } = await import("redis");
    const c = createClient({ socket: { path: redis.socketPath, reconnectStrategy: false } });
    await c.connect();
    const keys = await c.keys("t:revoked:*");
    expect(keys).toHaveLength(1);
    const ttl = await c.ttl(keys[0]!);
    expect(ttl).toBeGreaterThan(86_400 - 60);
    expect(ttl).toBeLessThanOrEqual(86_400);
    // The key is a hash: the session id itself (a bearer credential) is not in Redis.
    expect(keys[0]).not.toContain(h["mcp-session-id"]!.slice(3, 20));
    await c.close();
  });

  it("with Redis gone, a session the replica cannot check is refused (fail closed)", async () => {
    const h = await open(a);
    const stopped = redis.stop();
    await stopped;
    const r = await ping(b, h);
    expect(r.status).toBe(503);
    expect(gatewayCode(await r.text())).toBe("STATE_STORE_UNAVAILABLE");
  });
});
