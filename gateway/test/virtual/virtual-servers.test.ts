// Virtual servers end to end: an authenticated gateway (API keys with groups, the committed wasm policy bundle)
// composes a Streamable HTTP backend (SDK), a stdio backend (the demo server), a legacy-SSE backend
// (server-everything) and a backend that is down into /mcp/ops; two users in different groups, real SDK clients.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  type ClientCapabilities,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  McpError,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ERRORS } from "../../src/errors.ts";
import { hashApiKey } from "../../src/filters/authn/api-keys.ts";
import { type Logger, silentLogger } from "../../src/log/logger.ts";
import { type EverythingHttp, startEverything } from "../fixtures/everything.ts";
import { type ChangingBackend, startChangingBackend } from "../governance/backend.ts";
import { stdioDemo, TEST_KEY } from "../helpers.ts";

const DESK = randomBytes(24).toString("base64url");
const NETENG = randomBytes(24).toString("base64url");

let dir: string;
let http: ChangingBackend;
let sse: EverythingHttp;
let gw: RunningGateway;
let recorder: Recorder;
const warnings: Array<{ message: string; fields?: Record<string, unknown> }> = [];
const logger: Logger = {
  ...silentLogger,
  warn: (message, fields) => {
    if (process.env.VDEBUG) console.error(message, fields);
    warnings.push({ message, fields });
  },
  child: () => logger,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "virtual-"));
  [http, sse] = await Promise.all([startChangingBackend(), startEverything("sse")]);
  recorder = await startRecorder(http.url);
  const tree = {
    listen: { host: "127.0.0.1", port: 0 },
    sessions: { key: TEST_KEY },
    logging: { level: "silent" },
    servers: {
      servicenow: { sse: `${sse.base}/sse` },
      // Through a recording proxy: the test sees the JSON-RPC messages the backend receives.
      "catalyst-center": { url: recorder.url },
      // count, wait, summarize, confirm and list_roots declare no annotations: read here, so the API-key users (no MFA) may call them.
      devices: {
        ...stdioDemo(),
        authz: { actions: { count: "read", wait: "read", summarize: "read", confirm: "read", list_roots: "read" } },
      },
      // Nothing listens on port 1: this member is down.
      workflows: { url: "http://127.0.0.1:1/mcp" },
    },
    virtualServers: {
      ops: { servers: ["servicenow", "catalyst-center", "devices", "workflows"] },
      // At most one open virtual session: the bound on memory per virtual server.
      tiny: { servers: ["devices"], maxSessions: 1 },
    },
    auth: {
      apiKeys: [
        { id: "desk", sha256: hashApiKey(DESK), subject: "alice", groups: ["service-desk"] },
        { id: "neteng", sha256: hashApiKey(NETENG), subject: "bob", groups: ["network-engineers"] },
      ],
    },
    authz: { engine: { type: "wasm", watch: false }, decisionLog: { enabled: false } },
    telemetry: { audit: { enabled: false } },
  };
  gw = await startConfiguredGateway(parseConfig(tree, dir), { baseDir: dir, logger });
}, 90_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all([http?.close(), sse?.close(), recorder?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Recorder {
  readonly url: string;
  /** Every JSON-RPC message POSTed to the backend, with the backend session it was sent on. */
  readonly seen: Array<{ session: string | undefined; message: { id?: unknown; method?: string; params?: Record<string, unknown> } }>;
  close(): Promise<void>;
}

/** A transparent HTTP proxy in front of a Streamable HTTP backend that records what the backend is sent. */
async function startRecorder(target: string): Promise<Recorder> {
  const seen: Recorder["seen"] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const sid = req.headers["mcp-session-id"];
    if (req.method === "DELETE") seen.push({ session: typeof sid === "string" ? sid : undefined, message: { method: "HTTP DELETE" } });
    if (req.method === "POST") {
      const parsed = JSON.parse(body.toString("utf8"));
      for (const m of Array.isArray(parsed) ? parsed : [parsed])
        seen.push({ session: typeof sid === "string" ? sid : undefined, message: m });
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && k !== "host" && k !== "content-length") headers.set(k, v);
    const ac = new AbortController();
    res.once("close", () => ac.abort());
    try {
      const r = await fetch(target, { method: req.method, headers, body: req.method === "POST" ? body : undefined, signal: ac.signal });
      const out: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "transfer-encoding" && k !== "content-encoding") out[k] = v;
      });
      res.writeHead(r.status, out);
      if (r.body) for await (const c of r.body) res.write(c);
      res.end();
    } catch {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function session(key: string, route = "ops", capabilities: ClientCapabilities = {}): Promise<Client> {
  const c = new Client({ name: "virtual-e2e", version: "1" }, { capabilities });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
  );
  return c;
}

async function rpcError(p: Promise<unknown>): Promise<McpError> {
  try {
    const r = await p;
    throw new Error(`expected an error, got ${JSON.stringify(r).slice(0, 300)}`);
  } catch (e) {
    expect(e).toBeInstanceOf(McpError);
    return e as McpError;
  }
}

const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name).sort();

describe("virtual server over HTTP, stdio and legacy-SSE members", () => {
  it("two users in different groups see different merged lists, decided by each member's policy", async () => {
    const [desk, neteng] = await Promise.all([session(DESK), session(NETENG)]);
    try {
      const d = await names(desk);
      const n = await names(neteng);
      // service-desk: all of servicenow (server-everything over legacy SSE), catalyst-center's read tools only
      // (deploy_* is excepted), nothing of devices (only list_devices/get_device), nothing of workflows.
      expect(d).toContain("servicenow__echo");
      expect(d).toContain("catalyst-center__echo");
      expect(d).not.toContain("catalyst-center__deploy_template");
      expect(d.filter((t) => t.startsWith("devices__"))).toEqual([]);
      // network-engineers: all of catalyst-center and devices (the stdio demo server), nothing of servicenow.
      expect(n).toEqual(
        expect.arrayContaining(["catalyst-center__deploy_template", "catalyst-center__echo", "devices__add", "devices__count"]),
      );
      expect(n.filter((t) => t.startsWith("servicenow__"))).toEqual([]);
      for (const t of [...d, ...n]) expect(t.length).toBeLessThanOrEqual(64);
    } finally {
      await Promise.all([desk.close(), neteng.close()]);
    }
  }, 60_000);

  it("calls reach the right member with the member's own tool name; a call the policy denies is refused as on the member route", async () => {
    const [desk, neteng] = await Promise.all([session(DESK), session(NETENG)]);
    try {
      await Promise.all([desk.listTools(), neteng.listTools()]);
      const before = http.calls.length;
      expect(await neteng.callTool({ name: "catalyst-center__echo", arguments: { text: "to http" } })).toMatchObject({
        content: [{ type: "text", text: "to http" }],
      });
      expect(http.calls.slice(before)).toEqual([{ tool: "echo", args: { text: "to http" } }]);
      expect(await neteng.callTool({ name: "devices__add", arguments: { a: 2, b: 3 } })).toMatchObject({ structuredContent: { sum: 5 } });
      const echoed = await desk.callTool({ name: "servicenow__echo", arguments: { message: "to sse" } });
      expect(JSON.stringify(echoed.content)).toContain("to sse");
      // Same decision as the list: the member's authz sees "catalyst-center" and "deploy_template".
      const denied = await rpcError(
        desk.callTool({ name: "catalyst-center__deploy_template", arguments: { template: "t", site: "paris" } }),
      );
      expect(denied.code).toBe(ERRORS.AUTHZ_DENIED.rpc);
      const cross = await rpcError(desk.callTool({ name: "devices__add", arguments: { a: 1, b: 1 } }));
      expect(cross.code).toBe(ERRORS.AUTHZ_DENIED.rpc);
      expect(http.calls.length).toBe(before + 1);
      const unknown = await rpcError(neteng.callTool({ name: "nowhere__echo", arguments: {} }));
      expect(unknown.code).toBe(ERRORS.VIRTUAL_UNKNOWN_NAME.rpc);
    } finally {
      await Promise.all([desk.close(), neteng.close()]);
    }
  }, 60_000);

  it("progress comes back under the caller's token, and concurrent calls of two members keep their own ids", async () => {
    const c = await session(NETENG);
    try {
      const progress: number[] = [];
      const [counted, echoed, added] = await Promise.all([
        c.callTool({ name: "devices__count", arguments: { n: 3, delayMs: 1 } }, undefined, {
          onprogress: (p) => void progress.push(p.progress),
        }),
        c.callTool({ name: "catalyst-center__echo", arguments: { text: "concurrent" } }),
        c.callTool({ name: "devices__add", arguments: { a: 1, b: 2 } }),
      ]);
      expect(counted.content).toEqual([{ type: "text", text: "counted to 3" }]);
      expect(echoed.content).toEqual([{ type: "text", text: "concurrent" }]);
      expect(added.structuredContent).toEqual({ sum: 3 });
      expect(progress).toEqual([1, 2, 3]);
    } finally {
      await c.close();
    }
  }, 60_000);

  it("a cancelled call is cancelled on its member", async () => {
    const c = await session(NETENG);
    try {
      const ac = new AbortController();
      const p = c.callTool({ name: "devices__wait", arguments: { ms: 30_000 } }, undefined, { signal: ac.signal });
      setTimeout(() => ac.abort(), 200);
      const t0 = Date.now();
      const e = await p.then(
        () => undefined,
        (x: unknown) => x,
      );
      // The caller's own abort, not a refusal.
      expect(String(e)).toContain("AbortError");
      expect(Date.now() - t0).toBeLessThan(20_000);
      // The session still works after the cancellation.
      expect(await c.callTool({ name: "devices__echo", arguments: { text: "after" } })).toMatchObject({ content: [{ text: "after" }] });
    } finally {
      await c.close();
    }
  }, 60_000);

  it("a member's list_changed reaches the caller", async () => {
    const c = await session(NETENG);
    try {
      let changed = 0;
      c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
      await c.callTool({ name: "devices__touch_tools", arguments: {} });
      const end = Date.now() + 20_000;
      while (changed === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      expect(changed).toBeGreaterThan(0);
    } finally {
      await c.close();
    }
  }, 60_000);

  it("a member that is down leaves the others working, is reported once, and its calls get the documented error", async () => {
    const before = warnings.filter((w) => w.message.includes("is down")).length;
    const c = await session(NETENG);
    try {
      expect(await names(c)).toContain("devices__echo");
      expect(await names(c)).toContain("catalyst-center__echo");
      const down = await rpcError(c.callTool({ name: "workflows__deploy_template", arguments: {} }));
      expect(down.code).toBe(ERRORS.VIRTUAL_BACKEND_UNAVAILABLE.rpc);
      expect(down.data).toMatchObject({ gatewayCode: "VIRTUAL_BACKEND_UNAVAILABLE", member: "workflows" });
      const again = await rpcError(c.callTool({ name: "workflows__deploy_template", arguments: {} }));
      expect(again.code).toBe(ERRORS.VIRTUAL_BACKEND_UNAVAILABLE.rpc);
      const reports = warnings.filter((w) => w.message.includes("is down"));
      expect(reports.length).toBeLessThanOrEqual(before + 1);
      expect(reports.length).toBeGreaterThanOrEqual(1);
      expect(reports.every((w) => w.fields?.["mcp.server"] === "workflows")).toBe(true);
    } finally {
      await c.close();
    }
  }, 60_000);

  it("request ids are remapped: the backend sees the member session's own ids, never the caller's, and each caller its own backend session", async () => {
    const [a, b] = await Promise.all([session(NETENG), session(NETENG)]);
    try {
      // The callers' ids are chosen here, as strings no SDK client would produce.
      const raw = async (c: Client, id: string, text: string) => {
        const t = c.transport as StreamableHTTPClientTransport;
        const r = await fetch(`${gw.url}/mcp/ops`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${NETENG}`,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-session-id": t.sessionId!,
            "mcp-protocol-version": t.protocolVersion ?? "2025-06-18",
          },
          body: JSON.stringify({
            jsonrpc: "2.0",
            id,
            method: "tools/call",
            params: { name: "catalyst-center__echo", arguments: { text } },
          }),
        });
        const text2 = await r.text();
        expect(r.status).toBe(200);
        expect(text2).toContain(`"id":"${id}"`);
        expect(text2).toContain(text);
      };
      await Promise.all([raw(a, "caller-a-7", "from a"), raw(b, "caller-b-7", "from b")]);
      const calls = recorder.seen.filter(
        (s) =>
          s.message.method === "tools/call" &&
          ["from a", "from b"].includes(String((s.message.params?.arguments as { text?: string })?.text)),
      );
      expect(calls).toHaveLength(2);
      for (const c of calls) {
        expect(c.message.params?.name).toBe("echo");
        expect(typeof c.message.id).toBe("number");
        expect(String(c.message.id)).not.toContain("caller");
      }
      // Two virtual sessions, two backend sessions: the ids of one can never collide with the other's.
      expect(calls[0]!.session).toBeDefined();
      expect(calls[0]!.session).not.toBe(calls[1]!.session);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);

  it("a member's sampling, elicitation and roots requests go back to the client whose call caused them", async () => {
    const caps: ClientCapabilities = { sampling: {}, elicitation: {}, roots: { listChanged: false } };
    const [a, b] = await Promise.all([session(NETENG, "ops", caps), session(NETENG, "ops", caps)]);
    try {
      for (const [c, who] of [
        [a, "alpha"],
        [b, "beta"],
      ] as const) {
        c.setRequestHandler(CreateMessageRequestSchema, async () => ({
          role: "assistant",
          model: "test",
          content: { type: "text", text: `from ${who}` },
        }));
        c.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { ok: who === "alpha" } }));
        c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: `file:///${who}` }] }));
      }
      const [sa, sb] = await Promise.all([
        a.callTool({ name: "devices__summarize", arguments: { text: "x" } }),
        b.callTool({ name: "devices__summarize", arguments: { text: "y" } }),
      ]);
      expect(sa.content).toEqual([{ type: "text", text: "summary: from alpha" }]);
      expect(sb.content).toEqual([{ type: "text", text: "summary: from beta" }]);
      expect((await b.callTool({ name: "devices__confirm", arguments: { question: "go?" } })).content).toEqual([
        { type: "text", text: 'accept:{"ok":false}' },
      ]);
      expect((await a.callTool({ name: "devices__list_roots", arguments: {} })).content).toEqual([{ type: "text", text: "file:///alpha" }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);

  it("a legacy HTTP+SSE (2024-11-05) caller gets the same merged list and routed calls, on a session bound to it", async () => {
    const as =
      (key: string): typeof fetch =>
      (input, init) => {
        const h = new Headers(init?.headers);
        h.set("authorization", `Bearer ${key}`);
        return fetch(input, { ...init, headers: h });
      };
    const c = new Client({ name: "virtual-legacy", version: "1" });
    const f = as(NETENG);
    const t = new SSEClientTransport(new URL(`${gw.url}/mcp/ops/sse`), { fetch: f, eventSourceInit: { fetch: f } });
    await c.connect(t);
    try {
      const direct = await session(NETENG);
      try {
        expect(await names(c)).toEqual(await names(direct));
      } finally {
        await direct.close();
      }
      expect(await c.callTool({ name: "devices__add", arguments: { a: 20, b: 22 } })).toMatchObject({ structuredContent: { sum: 42 } });
      // Another user cannot post into this session (the endpoint the SDK client was given, read from the transport).
      const endpoint = (t as unknown as { _endpoint?: URL })._endpoint;
      expect(endpoint?.searchParams.get("sessionId")).toBeTruthy();
      const stolen = await fetch(endpoint!, {
        method: "POST",
        headers: { authorization: `Bearer ${DESK}`, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
      });
      expect(stolen.status).toBe(404);
    } finally {
      await c.close();
    }
  }, 60_000);

  it("a virtual session is bound to its caller, and the virtual route is authenticated", async () => {
    const c = await session(NETENG);
    try {
      await c.listTools();
      const sid = (c.transport as StreamableHTTPClientTransport).sessionId!;
      expect(sid.startsWith("g1.")).toBe(true);
      const stolen = await fetch(`${gw.url}/mcp/ops`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${DESK}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-session-id": sid,
          "mcp-protocol-version": "2025-06-18",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(stolen.status).toBe(404);
      const anonymous = await fetch(`${gw.url}/mcp/ops`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
        }),
      });
      expect(anonymous.status).toBe(401);
      const noSession = await fetch(`${gw.url}/mcp/ops`, {
        method: "POST",
        headers: { authorization: `Bearer ${DESK}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(noSession.status).toBe(400);
      expect(((await noSession.json()) as { error: { data: { gatewayCode: string } } }).error.data.gatewayCode).toBe("SESSION_REQUIRED");
    } finally {
      await c.close();
    }
  }, 60_000);

  it("ending the virtual session ends its member sessions", async () => {
    const c = await session(NETENG);
    await c.callTool({ name: "catalyst-center__echo", arguments: { text: "before the end" } });
    const call = recorder.seen.find((x) => (x.message.params?.arguments as { text?: string } | undefined)?.text === "before the end");
    expect(call?.session).toBeDefined();
    await (c.transport as StreamableHTTPClientTransport).terminateSession();
    await c.close();
    const end = Date.now() + 20_000;
    while (!recorder.seen.some((x) => x.message.method === "HTTP DELETE" && x.session === call!.session) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 25));
    expect(recorder.seen.some((x) => x.message.method === "HTTP DELETE" && x.session === call!.session)).toBe(true);
  }, 60_000);

  it("open virtual sessions are bounded: beyond maxSessions the least recently used one is ended", async () => {
    const first = await session(NETENG, "tiny");
    const second = await session(NETENG, "tiny");
    try {
      expect(await names(second)).toContain("devices__echo");
      await expect(first.listTools()).rejects.toThrow(/404|Session not found/);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 60_000);

  // Last: it changes the HTTP backend's tool definition for the sessions opened after it.
  it("each member's governance applies: a changed tool definition is hidden from the virtual list, as on the member route", async () => {
    http.description = "Deploy a template (now also wipes the site first)";
    const c = await session(NETENG);
    try {
      const n = await names(c);
      expect(n).toContain("catalyst-center__echo");
      expect(n).not.toContain("catalyst-center__deploy_template");
      // The same as the member's own route shows this caller: the virtual list is the members' lists.
      const direct = await session(NETENG, "catalyst-center");
      try {
        expect(await names(direct)).toEqual(
          n.filter((t) => t.startsWith("catalyst-center__")).map((t) => t.slice("catalyst-center__".length)),
        );
      } finally {
        await direct.close();
      }
    } finally {
      await c.close();
    }
  }, 60_000);
});
