// The REST bridge through a real authenticated gateway: a real OpenID provider (oidc-provider), the real OPA
// policy bundle (wasm), 2.x SDK backends; called with plain fetch and with a client generated from the
// bridge's own OpenAPI document (swagger-client).

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
// @ts-expect-error swagger-client ships no type declarations; the members used are typed below.
import SwaggerClientModule from "swagger-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { attr, type Receiver, startReceiver } from "../../../otel/test/helpers/otlp-receiver.ts";
import { BridgeSessions } from "../../src/bridge/bridge-sessions.ts";
import {
  account,
  type Backend,
  idpAccounts,
  issuerYaml,
  post,
  type StartedGateway,
  startBackend,
  startFromYaml,
  userToken,
} from "../acceptance/fixtures.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";

/** A client generated from the bridge's document for one caller's token. */
async function generated(doc: unknown, token: string): Promise<GeneratedClient> {
  return SwaggerClient({
    spec: doc,
    requestInterceptor: (req) => {
      req.headers.authorization = `Bearer ${token}`;
      return req;
    },
  });
}

interface GeneratedClient {
  spec: { paths: Record<string, Record<string, { operationId: string }>> };
  execute(o: {
    operationId: string;
    requestBody?: unknown;
    parameters?: Record<string, unknown>;
  }): Promise<{ status: number; body: unknown }>;
}
const SwaggerClient = SwaggerClientModule as (o: {
  spec: unknown;
  requestInterceptor?: (r: { headers: Record<string, string> }) => unknown;
}) => Promise<GeneratedClient>;

const SESSION_KEY = "bridge-test-session-key-0123456789abcdef";
let dir: string;
let idp: Idp;
let servicenow: Backend;
let catalyst: Backend;
let gw: StartedGateway;
let desk: string;
let admin: string;
let engineer: string;
let jobs: { url: string; server: HttpServer; release: () => void };
let rx: Receiver;
type Json = Record<string, unknown>;

const api = (path: string) => `${gw.url}/api/v1${path}`;
async function get(path: string, token = desk): Promise<Response> {
  return fetch(api(path), { headers: { authorization: `Bearer ${token}` } });
}
async function call(route: string, tool: string, args: unknown, token = desk, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(api(`/mcp/${route}/tools/${tool}`), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ arguments: args }),
  });
}
const toolCalls = (b: Backend) => b.calls.length;

/**
 * A backend with MCP tasks (1.x SDK, experimental tasks API, 2025-11-25): `slow_report` runs as a task until the
 * test releases it. Stateless HTTP, one task store shared by every request.
 */
async function startTasksBackend(): Promise<typeof jobs> {
  const store = new InMemoryTaskStore();
  let release = () => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  const make = () => {
    const server = new McpServer(
      { name: "jobs", version: "1" },
      { capabilities: { tasks: { requests: { tools: { call: {} } } } }, taskStore: store },
    );
    server.experimental.tasks.registerToolTask(
      "slow_report",
      { description: "A report that takes a while", inputSchema: { topic: z.string() }, annotations: { readOnlyHint: true } },
      {
        async createTask({ topic }, { taskStore, taskRequestedTtl }) {
          const task = await taskStore.createTask({ ttl: taskRequestedTtl ?? 60_000, pollInterval: 100 });
          // The shared store, not the request's: the request (and its server) is long gone when the work ends.
          void released.then(() =>
            store.storeTaskResult(task.taskId, "completed", { content: [{ type: "text", text: `report on ${topic}` }] }),
          );
          return { task };
        },
        async getTask(_a, { taskId, taskStore }) {
          return await taskStore.getTask(taskId);
        },
        async getTaskResult(_a, { taskId, taskStore }) {
          return (await taskStore.getTaskResult(taskId)) as never;
        },
      },
    );
    return server;
  };
  const http = createServer((req, res) => {
    const server = make();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => void server.close());
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, server: http, release };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bridge-"));
  [idp, servicenow, catalyst, jobs, rx] = await Promise.all([
    startIdp({ accounts: idpAccounts() }),
    startBackend("servicenow", { extraTools: true }),
    startBackend("catalyst-center"),
    startTasksBackend(),
    startReceiver(),
  ]);
  // Spans leave the batch processor quickly (the SDK reads OTEL_BSP_* from process.env).
  process.env.OTEL_BSP_SCHEDULE_DELAY = "50";
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
sessions:
  key: \${env:SESSION_KEY}
auth:${issuerYaml(idp)}
authz:
  engine: { type: wasm, watch: false }
restBridge: { enabled: true, idleSeconds: 60 }
servers:
  servicenow:
    url: ${servicenow.url}
  catalyst-center:
    url: ${catalyst.url}
  down:
    url: http://127.0.0.1:1/mcp
  jobs:
    url: ${jobs.url}
telemetry:
  enabled: true
  serviceName: bridge-test
  otlp: { endpoint: "${rx.url}" }
  audit: { sink: file, path: ${join(dir, "audit.log")} }
`;
  gw = await startFromYaml(yaml, { baseDir: dir, env: { SESSION_KEY } });
  desk = await userToken(idp, account("service-desk", true), gw.url);
  admin = await userToken(idp, account("admin", true), gw.url);
  engineer = await userToken(idp, account("network-engineers", true), gw.url);
}, 90_000);

afterAll(async () => {
  await gw?.close();
  jobs?.server.closeAllConnections();
  await Promise.all([servicenow?.close(), catalyst?.close(), idp?.close(), rx?.close(), new Promise((r) => jobs?.server.close(r))]);
  delete process.env.OTEL_BSP_SCHEDULE_DELAY;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("REST bridge with a plain HTTP client", () => {
  it("lists the tools the caller may call: the same decision as MCP tools/list", async () => {
    const r = await get("/mcp/catalyst-center/tools");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    const names = ((await r.json()) as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
    const mcp = new Client({ name: "mcp-agent", version: "1" });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/catalyst-center`), {
        requestInit: { headers: { authorization: `Bearer ${desk}` } },
      }),
    );
    const viaMcp = (await mcp.listTools()).tools.map((t) => t.name).sort();
    await mcp.close();
    expect(names).toEqual(viaMcp);
    expect(names).toEqual(["get_devices", "get_sites"]);
  });

  it("an allowed call reaches the backend and answers the content list as JSON", async () => {
    const before = toolCalls(catalyst);
    const r = await call("catalyst-center", "get_devices", { site: "paris" });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual([{ type: "text", text: "catalyst-center:get_devices ok" }]);
    expect(catalyst.calls.slice(before)).toMatchObject([{ tool: "get_devices", arguments: { site: "paris" } }]);
  });

  it("a forbidden call is a 403 problem and no backend traffic", async () => {
    const seen = catalyst.seen.length;
    const r = await call("catalyst-center", "update_site", { site: "paris" });
    expect(r.status).toBe(403);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
    const p = (await r.json()) as Json;
    expect(p).toMatchObject({ status: 403, code: "AUTHZ_DENIED", type: "urn:mcp-edge:error:AUTHZ_DENIED" });
    expect(catalyst.seen.length).toBe(seen);
  });

  it("an unknown tool is a 404 problem", async () => {
    const r = await call("servicenow", "no_such_tool", {});
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ code: "BRIDGE_UNKNOWN_TARGET", status: 404 });
    const s = await get("/mcp/no-such-server/tools");
    expect(s.status).toBe(404);
    expect(await s.json()).toMatchObject({ code: "UNKNOWN_SERVER" });
  });

  it("invalid arguments are a 400 problem before the backend sees anything", async () => {
    const before = toolCalls(servicenow);
    const seen = servicenow.seen.length;
    const r = await call("servicenow", "count", { n: 50 });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ code: "BRIDGE_INVALID_ARGUMENTS" });
    expect(toolCalls(servicenow)).toBe(before);
    expect(servicenow.seen.length).toBe(seen);
    const bad = await fetch(api("/mcp/servicenow/tools/count"), {
      method: "POST",
      headers: { authorization: `Bearer ${desk}`, "content-type": "application/json" },
      body: '{"arguments": [1]}',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "BRIDGE_BAD_REQUEST" });
  });

  it("a tool that reports an error is a 422 with the result; an unreachable backend a 5xx problem", async () => {
    const r = await call("servicenow", "fail", {});
    expect(r.status).toBe(422);
    const p = (await r.json()) as { code: string; result: { isError: boolean; content: unknown[] } };
    expect(p.code).toBe("BRIDGE_TOOL_ERROR");
    expect(p.result).toEqual({ isError: true, content: [{ type: "text", text: "the backend failed" }] });
    const down = await get("/mcp/down/tools", admin);
    expect(down.status).toBe(502);
    expect(((await down.json()) as Json).code).toBe("UPSTREAM_UNAVAILABLE");
  });

  it("an expired token is a 401 with the same challenge the MCP endpoint sends", async () => {
    const expired = await idp.mintToken({
      sub: account("service-desk", true),
      aud: gw.url,
      claims: { groups: ["service-desk"], amr: ["pwd", "mfa"] },
      expiresIn: -120,
    });
    const mcp = await post(
      `${gw.url}/mcp/catalyst-center`,
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      },
      { authorization: `Bearer ${expired}` },
    );
    expect(mcp.status).toBe(401);
    const challenge = mcp.headers.get("www-authenticate");
    expect(challenge).toContain("resource_metadata=");
    const r = await get("/mcp/catalyst-center/tools", expired);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBe(challenge);
    expect(await r.json()).toMatchObject({ status: 401, code: "INVALID_TOKEN" });
    const none = await fetch(api("/mcp/catalyst-center/tools"));
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("prompts and resources have their REST equivalents", async () => {
    const prompts = (await (await get("/mcp/servicenow/prompts")).json()) as { prompts: { name: string }[] };
    expect(prompts.prompts.map((p) => p.name)).toEqual(["servicenow_summary"]);
    const pr = await fetch(api("/mcp/servicenow/prompts/servicenow_summary"), {
      method: "POST",
      headers: { authorization: `Bearer ${desk}`, "content-type": "application/json" },
      body: JSON.stringify({ arguments: { topic: "outages" } }),
    });
    expect(pr.status).toBe(200);
    expect(((await pr.json()) as { messages: { content: { text: string } }[] }).messages[0]!.content.text).toBe(
      "Summarize outages on servicenow",
    );
    const res = (await (await get("/mcp/servicenow/resources")).json()) as { resources: { uri: string }[] };
    expect(res.resources.map((x) => x.uri)).toEqual(["servicenow://readme"]);
    const read = await get(`/mcp/servicenow/resources/read?uri=${encodeURIComponent("servicenow://readme")}`);
    expect(((await read.json()) as { contents: { text: string }[] }).contents[0]!.text).toBe("servicenow readme");
  });

  it("reuses one backend MCP session per principal and route across REST requests", async () => {
    const inits = (b: Backend) => b.seen.filter((s) => s.body?.method === "initialize").length;
    const before = inits(servicenow);
    for (let i = 0; i < 5; i++) expect((await call("servicenow", "get_incident", {})).status).toBe(200);
    await get("/mcp/servicenow/tools");
    expect(inits(servicenow)).toBe(before);
  });

  it("closes a session once idle: DELETE through the gateway, which then refuses its id", async () => {
    const pool = new BridgeSessions({ gatewayUrl: () => gw.url, idleMs: 300, max: 10, version: "test" });
    const s = await pool.get("servicenow", { authorization: `Bearer ${desk}` });
    const sid = s.transport.sessionId!;
    expect(sid).toBeTruthy();
    expect(pool.size).toBe(1);
    for (let i = 0; i < 200 && pool.size > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(pool.size).toBe(0);
    // The DELETE is sent as the session is disposed: wait for the gateway to refuse the id.
    let status = 0;
    for (let i = 0; i < 100; i++) {
      const r = await post(
        `${gw.url}/mcp/servicenow`,
        { jsonrpc: "2.0", id: 9, method: "tools/list" },
        { authorization: `Bearer ${desk}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" },
      );
      status = r.status;
      await r.body?.cancel();
      if (status === 404) break;
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(status).toBe(404);
    await pool.close();
  });

  it("without tasks support at the backend, Prefer: respond-async waits and answers 200", async () => {
    const r = await call("servicenow", "count", { n: 2 }, desk, { prefer: "respond-async" });
    expect(r.status).toBe(200);
    expect(r.headers.get("preference-applied")).toBeNull();
    expect(await r.json()).toEqual([{ type: "text", text: "counted to 2" }]);
  });

  it("with tasks at the backend, Prefer: respond-async gives 202 and a status URL that ends with the result", async () => {
    const r = await call("jobs", "slow_report", { topic: "uptime" }, admin, { prefer: "respond-async" });
    expect(r.status).toBe(202);
    expect(r.headers.get("preference-applied")).toBe("respond-async");
    const task = (await r.json()) as { taskId: string; status: string; statusUrl: string };
    expect(task.status).toBe("working");
    expect(r.headers.get("location")).toBe(task.statusUrl);
    const poll = () => fetch(`${gw.url}${task.statusUrl}`, { headers: { authorization: `Bearer ${admin}` } });
    const running = await poll();
    expect(running.status).toBe(202);
    await running.body?.cancel();
    // The task is the admin's: another caller cannot read it (refused by policy or unknown to them).
    const other = await fetch(`${gw.url}${task.statusUrl}`, { headers: { authorization: `Bearer ${desk}` } });
    expect([403, 404]).toContain(other.status);
    await other.body?.cancel();
    jobs.release();
    let done: Response | undefined;
    for (let i = 0; i < 100; i++) {
      const p = await poll();
      if (p.status !== 202) {
        done = p;
        break;
      }
      await p.body?.cancel();
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(done?.status).toBe(200);
    expect(await done!.json()).toEqual([{ type: "text", text: "report on uptime" }]);
  });

  it("bridge calls have the MCP spans (allowed and refused), and no bearer token reaches the collector", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    await call("catalyst-center", "get_sites", { site: "rome" }, desk, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    await call("catalyst-center", "update_site", { site: "rome" });
    const find = (name: string) => rx.spans.find((x) => x.name === name);
    for (let i = 0; i < 200 && !(find("tools/call get_sites") && find("tools/call update_site")); i++)
      await new Promise((r) => setTimeout(r, 25));
    const ok = find("tools/call get_sites")!;
    expect(attr(ok, "mcp.method.name")).toBe("tools/call");
    expect(attr(ok, "gen_ai.tool.name")).toBe("get_sites");
    // The REST caller's trace context continues into the gateway's span (per request, in params._meta).
    expect(ok.traceId).toBe(traceId);
    const denied = find("tools/call update_site")!;
    expect(attr(denied, "error.type")).toBeDefined();
    const otlp = rx.bodies.join("\n");
    expect(otlp).not.toContain(desk);
    expect(otlp).not.toContain(admin);
  });

  it("the audit log records bridge calls like MCP calls, with the caller's identity", async () => {
    await call("catalyst-center", "get_sites", {});
    const lines = readFileSync(join(dir, "audit.log"), "utf8").split("\n").filter(Boolean);
    const text = lines.join("\n");
    expect(text).toContain("get_sites");
    expect(text).toContain(account("service-desk", true));
    expect(text).not.toContain(desk);
  });
});

describe("REST bridge with a client generated from its own OpenAPI document", () => {
  let doc: { openapi: string; paths: Record<string, Record<string, { operationId: string }>> };
  let client: GeneratedClient;

  beforeAll(async () => {
    const r = await get("/openapi.json");
    expect(r.status).toBe(200);
    doc = (await r.json()) as typeof doc;
    client = await SwaggerClient({
      spec: doc,
      requestInterceptor: (req) => {
        req.headers.authorization = `Bearer ${desk}`;
        return req;
      },
    });
  });

  it("describes what this caller may see, with each tool's input schema", () => {
    expect(doc.openapi).toBe("3.1.0");
    const paths = Object.keys(doc.paths);
    expect(paths).toContain("/api/v1/mcp/catalyst-center/tools/get_devices");
    expect(paths).not.toContain("/api/v1/mcp/catalyst-center/tools/update_site");
    expect(paths).toContain("/api/v1/mcp/servicenow/tools/create_incident");
    // A route the caller cannot list (it fails) is left out rather than failing the document.
    expect(paths.some((p) => p.startsWith("/api/v1/mcp/down/"))).toBe(false);
    const body = (doc.paths["/api/v1/mcp/servicenow/tools/count"]!.post as unknown as Json).requestBody as Json;
    const schema = ((body.content as Json)["application/json"] as Json).schema as Json;
    expect(((schema.properties as Json).arguments as Json).type).toBe("object");
  });

  it("an allowed call, a tool error (422) and invalid arguments (400) through the generated client", async () => {
    const ok = await client.execute({ operationId: "call_catalyst_center_get_devices", requestBody: { arguments: { site: "lyon" } } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual([{ type: "text", text: "catalyst-center:get_devices ok" }]);
    await expect(client.execute({ operationId: "call_servicenow_fail", requestBody: { arguments: {} } })).rejects.toMatchObject({
      status: 422,
      response: { body: { code: "BRIDGE_TOOL_ERROR" } },
    });
    await expect(client.execute({ operationId: "call_servicenow_count", requestBody: { arguments: { n: 0 } } })).rejects.toMatchObject({
      status: 400,
      response: { body: { code: "BRIDGE_INVALID_ARGUMENTS" } },
    });
  });

  it("a forbidden call (site-scoped: listed, refused for another site) is a 403 with no backend traffic", async () => {
    const own = (await (await get("/openapi.json", engineer)).json()) as typeof doc;
    expect(Object.keys(own.paths)).toContain("/api/v1/mcp/catalyst-center/tools/deploy_template");
    const c = await generated(own, engineer);
    const before = catalyst.seen.length;
    await expect(
      c.execute({ operationId: "call_catalyst_center_deploy_template", requestBody: { arguments: { site: "lyon", template: "t1" } } }),
    ).rejects.toMatchObject({ status: 403, response: { body: { code: "AUTHZ_DENIED" } } });
    expect(catalyst.seen.length).toBe(before);
    const ok = await c.execute({
      operationId: "call_catalyst_center_deploy_template",
      requestBody: { arguments: { site: "paris", template: "t1" } },
    });
    expect(ok.status).toBe(200);
  });

  it("an expired token is a 401 with the MCP endpoint's challenge through the generated client too", async () => {
    const expired = await idp.mintToken({
      sub: account("service-desk", true),
      aud: gw.url,
      claims: { groups: ["service-desk"] },
      expiresIn: -60,
    });
    const c = await generated(doc, expired);
    const e = (await c.execute({ operationId: "list_tools_catalyst_center" }).catch((x: unknown) => x)) as {
      status: number;
      response: { headers: Record<string, string | string[]>; body: { code: string } };
    };
    expect(e.status).toBe(401);
    expect(e.response.body.code).toBe("INVALID_TOKEN");
    // swagger-client splits a header at its commas; rejoined it is the challenge the MCP endpoint sends.
    const challenge = [e.response.headers["www-authenticate"] ?? []].flat().join(",");
    expect(challenge).toContain("resource_metadata=");
    expect(challenge).toContain('error="invalid_token"');
  });
});

describe("REST bridge when the gateway no longer knows the session", () => {
  let short: StartedGateway;
  let token: string;

  beforeAll(async () => {
    const yaml = `
listen: { host: 127.0.0.1, port: 0 }
sessions:
  key: \${env:SESSION_KEY}
  ttlSeconds: 2
auth:${issuerYaml(idp)}
authz:
  engine: { type: wasm, watch: false }
restBridge: { enabled: true }
servers:
  servicenow:
    url: ${servicenow.url}
`;
    short = await startFromYaml(yaml, { baseDir: dir, env: { SESSION_KEY } });
    token = await userToken(idp, account("service-desk", true), short.url);
  }, 60_000);
  afterAll(async () => {
    await short?.close();
  });

  it("opens a new session once and replays the request with its body", async () => {
    const post = (n: number) =>
      fetch(`${short.url}/api/v1/mcp/servicenow/tools/count`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ arguments: { n } }),
      });
    const first = await post(2);
    expect(first.status).toBe(200);
    await first.body?.cancel();
    const inits = () => servicenow.seen.filter((s) => s.body?.method === "initialize").length;
    const before = inits();
    // The sealed session expires after ttlSeconds (2 s, whole seconds): wait until that has certainly passed.
    const until = Date.now() + 3_100;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const calls = servicenow.calls.length;
    const again = await post(4);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual([{ type: "text", text: "counted to 4" }]);
    expect(servicenow.calls.slice(calls)).toMatchObject([{ tool: "count", arguments: { n: 4 } }]);
    expect(inits()).toBe(before + 1);
  });
});
