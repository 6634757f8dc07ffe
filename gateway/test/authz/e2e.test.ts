// The authz filter wired into the real gateway (relay, listener, upstreams) in front of real MCP
// backends: for each era a denied tool is absent from every list and its call fails with the
// documented error; step-up is answered at HTTP level. Authentication is stubbed (a header → Principal)
// so this test depends on nothing but the relay; the authn issue's tests use real tokens.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpDemo, startSseDemo } from "../../../examples/demo-server/server.ts";
import type { Filter } from "../../src/chain/types.ts";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import type { DecisionLogRecord } from "../../src/filters/authz/decision-log.ts";
import { createAuthzFilter } from "../../src/filters/authz/filter.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { startModernHttp } from "../fixtures/modern-server.ts";
import { messagesOf, post, startGateway, type TestGateway } from "../helpers.ts";

/** Test-only authn: X-Test-Groups / X-Test-Amr → Principal. */
const headerAuthn: Filter = {
  name: "test-authn",
  stage: "authn",
  onRequest(ex) {
    const g = ex.headers["x-test-groups"];
    if (typeof g !== "string") return undefined;
    const amr = ex.headers["x-test-amr"];
    ex.principal = {
      sub: "alice",
      iss: "https://idp.test",
      groups: g.split(",").filter(Boolean),
      scopes: [],
      amr: typeof amr === "string" ? amr.split(",") : ["pwd"],
      claims: {},
    };
    return undefined;
  },
};

let http: Awaited<ReturnType<typeof startHttpDemo>>;
let sse: Awaited<ReturnType<typeof startSseDemo>>;
let modern: Awaited<ReturnType<typeof startModernHttp>>;
let wasm: WasmEngine;
let gw: TestGateway;
let gwModern: TestGateway;
const records: DecisionLogRecord[] = [];

beforeAll(async () => {
  [http, sse, modern, wasm] = await Promise.all([startHttpDemo(), startSseDemo(), startModernHttp(), WasmEngine.create({ watch: false })]);
  const authorizer = new Authorizer({ engine: wasm, sink: (r) => records.push(r), logger: { info() {}, warn() {}, error() {} } });
  const authz = () => createAuthzFilter({ authorizer, servers: { "catalyst-center": { actions: { add: "read" } } } });
  gw = await startGateway({ "catalyst-center": { url: http.url }, github: { sse: sse.url } }, {}, { filters: [headerAuthn, authz()] });
  gwModern = await startGateway({ "catalyst-center": { url: modern.url } }, {}, { filters: [headerAuthn, authz()] });
});

afterAll(async () => {
  await Promise.all([gw?.close(), gwModern?.close()]);
  await Promise.all([http?.close(), sse?.close(), modern?.close(), wasm?.close()]);
});

function withHeaders(groups: string, amr = "pwd"): typeof fetch {
  return (input, init) => {
    const h = new Headers(init?.headers);
    h.set("x-test-groups", groups);
    h.set("x-test-amr", amr);
    return fetch(input, { ...init, headers: h });
  };
}

async function client(url: string, groups: string, amr = "pwd", legacy = false): Promise<Client> {
  const c = new Client({ name: "authz-e2e", version: "1" });
  const f = withHeaders(groups, amr);
  await c.connect(
    legacy
      ? new SSEClientTransport(new URL(url), { fetch: f, eventSourceInit: { fetch: f } })
      : new StreamableHTTPClientTransport(new URL(url), { fetch: f }),
  );
  return c;
}

async function callError(c: Client, name: string): Promise<{ code: number; message: string }> {
  try {
    const r = await c.callTool({ name, arguments: { text: "x", what: "x", a: 1, b: 2 } });
    throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  } catch (e) {
    expect(e).toBeInstanceOf(McpError);
    return { code: (e as McpError).code, message: (e as McpError).message };
  }
}

describe("authz through the gateway", () => {
  it("service-desk on catalyst-center (Streamable HTTP): lists show exactly the read tools, the rest is denied", async () => {
    const c = await client(`${gw.url}/mcp/catalyst-center`, "service-desk");
    try {
      const direct = new Client({ name: "direct", version: "1" });
      await direct.connect(new StreamableHTTPClientTransport(new URL(http.url)));
      const all = (await direct.listTools()).tools;
      await direct.close();
      // Read = readOnlyHint, or configured (add).
      const expected = all.filter((t) => t.annotations?.readOnlyHint === true || t.name === "add").map((t) => t.name);
      const visible = (await c.listTools()).tools.map((t) => t.name);
      expect(visible.sort()).toEqual(expected.sort());
      expect(visible.length).toBeLessThan(all.length);
      expect((await c.callTool({ name: "echo", arguments: { text: "hi" } })).content).toEqual([{ type: "text", text: "hi" }]);
      const denied = all.filter((t) => !expected.includes(t.name));
      const unknown = await callError(c, "no_such_tool");
      expect(unknown.code).toBe(-32080);
      for (const t of denied) expect(await callError(c, t.name)).toEqual(unknown);
      expect((await c.listPrompts()).prompts.map((p) => p.name)).toEqual(["greet"]);
      expect((await c.readResource({ uri: "demo://readme" })).contents).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it("a subject without any grant on the server cannot even initialize", async () => {
    await expect(client(`${gw.url}/mcp/catalyst-center`, "developers")).rejects.toThrow();
  });

  it("write without MFA is answered with the RFC 9470 challenge at HTTP level; with MFA it runs", async () => {
    const url = `${gw.url}/mcp/catalyst-center`;
    const c = await client(url, "network-engineers", "pwd");
    await c.listTools(); // learns delete_things's destructiveHint → write
    await c.close();
    const init = await post(
      url,
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
      },
      { "x-test-groups": "network-engineers" },
    );
    await init.text();
    const sid = init.headers.get("mcp-session-id")!;
    const h = { "x-test-groups": "network-engineers", "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    await (await post(url, { jsonrpc: "2.0", method: "notifications/initialized" }, h)).text();
    const callBody = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "delete_things", arguments: { what: "x" } } };
    const r = await post(url, callBody, h);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_user_authentication", .*acr_values="mfa"/);
    await r.text();
    const ok = await post(url, callBody, { ...h, "x-test-amr": "pwd,mfa" });
    expect(ok.status).toBe(200);
    const [msg] = await messagesOf(ok);
    expect(msg).toMatchObject({ id: 2, result: { content: [{ type: "text", text: "deleted x" }] } });
  });

  it("2024-11-05 (HTTP+SSE downstream and upstream): lists filtered the same way", async () => {
    const c = await client(`${gw.url}/mcp/github/sse`, "service-desk", "pwd", true).catch((e) => e);
    // service-desk has no grant on github: refused at initialize.
    expect(c).toBeInstanceOf(Error);
    const dev = await client(`${gw.url}/mcp/github/sse`, "developers", "pwd", true);
    try {
      // developers: everything on github; without MFA only read tools are callable, but all are listed.
      const tools = (await dev.listTools()).tools.map((t) => t.name);
      expect(tools).toContain("delete_things");
      expect((await dev.callTool({ name: "echo", arguments: { text: "sse" } })).content).toEqual([{ type: "text", text: "sse" }]);
    } finally {
      await dev.close();
    }
  });

  it("2026-07-28 (no session): list filtered, denied call refused, same decision", async () => {
    const url = `${gwModern.url}/mcp/catalyst-center`;
    const meta = { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} };
    const h = { "x-test-groups": "service-desk", "mcp-protocol-version": "2026-07-28" };
    const list = await post(
      url,
      { jsonrpc: "2.0", id: 1, method: "tools/list", params: { _meta: meta } },
      { ...h, "mcp-method": "tools/list" },
    );
    expect(list.status).toBe(200);
    const [lm] = await messagesOf(list);
    const names = ((lm!.result as { tools: Array<{ name: string }> }).tools ?? []).map((t) => t.name);
    expect(names).toContain("echo");
    expect(names).toContain("add"); // configured read
    expect(names).not.toContain("count");
    for (const [name, ok] of [
      ["echo", true],
      ["count", false],
    ] as const) {
      const r = await post(
        url,
        { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name, arguments: { text: "m", n: 1 }, _meta: meta } },
        { ...h, "mcp-method": "tools/call", "mcp-name": name },
      );
      const [m] = await messagesOf(r);
      if (ok) expect(m).toMatchObject({ result: { content: [{ type: "text", text: "m" }] } });
      else expect(m).toMatchObject({ error: { code: -32080 } });
    }
    const modernRecords = records.filter(
      (r) => (r.input as { request?: { protocol_version?: string } }).request?.protocol_version === "2026-07-28",
    );
    expect(modernRecords.length).toBeGreaterThan(0);
    expect(modernRecords.every((r) => (r.input as { request: { session: unknown } }).request.session === null)).toBe(true);
  });
});
