// The ServiceNow adapter as an MCP server, driven by the official SDK client over Streamable HTTP (with
// credentials as injected headers) and over stdio (the CLI, credentials from env), against the fake.

import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceNowFake, startServiceNowFake } from "../src/fake/index.ts";
import { CREDENTIAL_HEADERS, type HttpAdapter, serveHttp } from "../src/host.ts";

let fake: ServiceNowFake;
let adapter: HttpAdapter;
const clients: Client[] = [];

beforeAll(async () => {
  fake = await startServiceNowFake();
  adapter = await serveHttp({ instanceUrl: fake.url, timeoutMs: 5000 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await adapter?.close();
  await fake?.close();
});

async function httpClient(headers: Record<string, string>): Promise<Client> {
  const c = new Client({ name: "sn-test", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(adapter.url), { requestInit: { headers } }));
  clients.push(c);
  return c;
}

const AGENT = { [CREDENTIAL_HEADERS.username]: "itil.agent", [CREDENTIAL_HEADERS.password]: "itil-password" };
const call = async (c: Client, name: string, args: Record<string, unknown>) =>
  (await c.callTool({ name, arguments: args })) as CallToolResult;
// biome-ignore lint/suspicious/noExplicitAny: structured results in assertions
const sc = (r: CallToolResult) => r.structuredContent as any;
const text = (r: CallToolResult) => r.content.map((x) => (x.type === "text" ? x.text : "")).join("\n");

describe("tools over Streamable HTTP", () => {
  it("every tool has an output schema and read/write/destructive annotations; no tool takes a credential", async () => {
    const c = await httpClient(AGENT);
    const { tools } = await c.listTools();
    expect(tools.length).toBeGreaterThanOrEqual(18);
    for (const t of tools) {
      expect(t.outputSchema, t.name).toBeDefined();
      expect(typeof t.annotations?.readOnlyHint, t.name).toBe("boolean");
      if (!t.annotations?.readOnlyHint) expect(typeof t.annotations?.destructiveHint, t.name).toBe("boolean");
      const props = Object.keys((t.inputSchema.properties ?? {}) as object);
      expect(
        props.filter((p) => /pass|secret|token|auth|credential/i.test(p)),
        t.name,
      ).toEqual([]);
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName.get_incident?.annotations?.readOnlyHint).toBe(true);
    expect(byName.create_incident?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(byName.resolve_incident?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it("a service-desk flow: open, note, comment, query, resolve, close — structured results", async () => {
    const c = await httpClient(AGENT);
    const created = await call(c, "create_incident", {
      short_description: "Email down",
      caller_id: "itil.agent",
      assignment_group: "Service Desk",
      impact: "2",
    });
    expect(created.isError).toBeFalsy();
    const inc = (created.structuredContent as { incident: Record<string, string> }).incident;
    expect(inc.number).toMatch(/^INC\d{7}$/);
    expect(text(created)).toContain(inc.number!);
    expect((await call(c, "add_incident_work_note", { number: inc.number, text: "restarted exchange" })).isError).toBeFalsy();
    expect((await call(c, "add_incident_comment", { number: inc.number, text: "should work now" })).isError).toBeFalsy();
    const q = await call(c, "query_incidents", { caller: "itil.agent", text: "email", state: "new" });
    expect((q.structuredContent as { incidents: Array<{ number: string }> }).incidents.map((i) => i.number)).toContain(inc.number);
    const resolved = await call(c, "resolve_incident", { number: inc.number, close_code: "Solution provided", close_notes: "restarted" });
    expect((resolved.structuredContent as { incident: { state: string } }).incident.state).toBe("6");
    const closed = await call(c, "close_incident", { number: inc.number });
    expect((closed.structuredContent as { incident: { state: string } }).incident.state).toBe("7");
    const notes = fake.store.journal("incident", inc.sys_id!, "work_notes");
    expect(notes.map((n) => n.value)).toEqual(["restarted exchange"]);
  });

  it("changes: create, move, awaiting approval, close; problems; CMDB, users, groups", async () => {
    const c = await httpClient(AGENT);
    const chg = (
      (await call(c, "create_change", { short_description: "Replace PSU" })).structuredContent as { change: Record<string, string> }
    ).change;
    for (const s of ["assess", "authorize"])
      expect((await call(c, "move_change", { number: chg.number, state: s })).isError, s).toBeFalsy();
    const waiting = (await call(c, "list_changes_awaiting_approval", {})).structuredContent as {
      changes: Array<{ number: string }>;
      total: number;
    };
    expect(waiting.changes.map((x) => x.number)).toContain(chg.number);
    for (const s of ["scheduled", "implement", "review"]) await call(c, "move_change", { number: chg.number, state: s });
    const closed = await call(c, "move_change", { number: chg.number, state: "closed", close_code: "successful", close_notes: "ok" });
    expect((closed.structuredContent as { change: { state: string } }).change.state).toBe("3");
    const prb = (
      (await call(c, "create_problem", { short_description: "Recurring PSU failures" })).structuredContent as {
        problem: Record<string, string>;
      }
    ).problem;
    expect((await call(c, "get_problem", { number: prb.number })).structuredContent).toMatchObject({ problem: { number: prb.number } });
    expect(((await call(c, "query_problems", { text: "psu" })).structuredContent as { total: number }).total).toBeGreaterThanOrEqual(1);
    expect(
      ((await call(c, "find_configuration_items", { name: "core" })).structuredContent as { items: Array<{ name: string }> }).items[0]
        ?.name,
    ).toBe("paris-core-01");
    expect(
      ((await call(c, "find_users", { text: "ivy" })).structuredContent as { users: Array<{ user_name: string }> }).users[0]?.user_name,
    ).toBe("itil.agent");
    expect(
      ((await call(c, "find_groups", { text: "desk" })).structuredContent as { groups: Array<{ name: string }> }).groups[0]?.name,
    ).toBe("Service Desk");
  });

  it("names in reference fields are resolved to sys_ids by the adapter; an unknown name creates nothing", async () => {
    const c = await httpClient(AGENT);
    const group = fake.store.findBy("sys_user_group", "name", "Network")!;
    const user = fake.store.findBy("sys_user", "user_name", "itil.agent")!;
    const ci = fake.store.findBy("cmdb_ci", "name", "paris-core-01")!;
    const since = fake.requests.length;
    const inc = sc(
      await call(c, "create_incident", {
        short_description: "refs",
        caller_id: "itil.agent",
        assignment_group: "Network",
        cmdb_ci: "paris-core-01",
      }),
    );
    expect(inc.incident).toMatchObject({ caller_id: user.sys_id, assignment_group: group.sys_id, cmdb_ci: ci.sys_id });
    // The write itself carried sys_ids, not names.
    const post = fake.requests.slice(since).find((r) => r.method === "POST")!;
    expect(JSON.parse(post.body)).toMatchObject({ caller_id: user.sys_id, assignment_group: group.sys_id, cmdb_ci: ci.sys_id });
    const count = fake.store.table("incident").size;
    const bad = await call(c, "create_incident", { short_description: "refs", assignment_group: "No Such Group" });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/No sys_user_group record named No Such Group/);
    expect(fake.store.table("incident").size).toBe(count);
    const upd = await call(c, "update_incident", { number: inc.incident.number, fields: { assigned_to: "admin" } });
    expect(sc(upd).incident.assigned_to).toBe(fake.store.findBy("sys_user", "user_name", "admin")!.sys_id);
  });

  it("records are resources: servicenow://incident/INC…", async () => {
    const c = await httpClient(AGENT);
    const inc = (
      (await call(c, "create_incident", { short_description: "resource me" })).structuredContent as { incident: Record<string, string> }
    ).incident;
    const listed = await c.listResources();
    expect(listed.resources.map((r) => r.uri)).toContain(`servicenow://incident/${inc.number}`);
    const read = await c.readResource({ uri: `servicenow://incident/${inc.number}` });
    expect(JSON.parse((read.contents[0] as { text: string }).text)).toMatchObject({ number: inc.number, short_description: "resource me" });
    await expect(c.readResource({ uri: "servicenow://incident/INC9999999" })).rejects.toThrow(/not found/);
    await expect(c.readResource({ uri: "servicenow://sys_user/admin" })).rejects.toThrow(/Unknown ServiceNow resource/);
  });

  it("backend refusals and failures are tool errors with the instance's message", async () => {
    const c = await httpClient(AGENT);
    const missing = await call(c, "get_incident", { number: "INC9999999" });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/not found/);
    const inc = ((await call(c, "create_incident", { short_description: "dp" })).structuredContent as { incident: Record<string, string> })
      .incident;
    const dp = await call(c, "update_incident", { number: inc.number, fields: { state: "6" } });
    expect(dp.isError).toBe(true);
    expect(text(dp)).toMatch(/Data Policy Exception.*Resolution code/s);
    const reader = await httpClient({ [CREDENTIAL_HEADERS.username]: "reader", [CREDENTIAL_HEADERS.password]: "reader-password" });
    const acl = await call(reader, "create_incident", { short_description: "nope" });
    expect(acl.isError).toBe(true);
    expect(text(acl)).toMatch(/403.*ACL Exception/s);
    fake.rateLimitNext(10, 0);
    const limited = await call(c, "get_incident", { number: inc.number });
    expect(limited.isError).toBe(true);
    expect(text(limited)).toMatch(/429/);
    fake.rateLimitNext(0);
  });

  it("without credentials every call is a tool error naming the headers the gateway must inject", async () => {
    const c = await httpClient({});
    const r = await call(c, "find_groups", { text: "net" });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain(CREDENTIAL_HEADERS.username);
    const wrong = await httpClient({ [CREDENTIAL_HEADERS.username]: "itil.agent", [CREDENTIAL_HEADERS.password]: "nope-pw-123" });
    const w = await call(wrong, "find_groups", { text: "net" });
    expect(w.isError).toBe(true);
    expect(text(w)).toMatch(/401 User Not Authenticated/);
    expect(text(w)).not.toContain("nope-pw-123");
  });

  it("OAuth credentials by header: one token for many calls (the client is cached per credential set)", async () => {
    const headers = { [CREDENTIAL_HEADERS.clientId]: "mcp-adapter", [CREDENTIAL_HEADERS.clientSecret]: "mcp-adapter-secret" };
    const since = fake.requests.length;
    for (let i = 0; i < 3; i++) {
      const c = await httpClient(headers);
      expect((await call(c, "find_groups", { text: "net" })).isError).toBeFalsy();
    }
    expect(fake.requests.slice(since).filter((r) => r.url === "/oauth_token.do")).toHaveLength(1);
  });

  it("a slow instance becomes a timeout tool error, not a hung call", async () => {
    const slow = await startServiceNowFake({ delayMs: 2000 });
    const a = await serveHttp({ instanceUrl: slow.url, timeoutMs: 200 });
    try {
      const c = new Client({ name: "sn-slow", version: "1" });
      await c.connect(new StreamableHTTPClientTransport(new URL(a.url), { requestInit: { headers: AGENT } }));
      clients.push(c);
      const t0 = Date.now();
      const r = await call(c, "find_groups", { text: "net" });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/did not answer within 200 ms/);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await a.close();
      await slow.close();
    }
  });

  it("bad arguments are refused before any backend call", async () => {
    const c = await httpClient(AGENT);
    const since = fake.requests.length;
    for (const [tool, args] of [
      ["get_incident", { number: "INC1^ORactive=true" }],
      ["update_incident", { number: "INC0010001", fields: { sys_id: "x" } }],
      ["query_incidents", { state: "bogus" }],
      ["create_incident", {}],
    ] as const) {
      const r = await call(c, tool, args);
      expect(r.isError, tool).toBe(true);
    }
    expect(fake.requests.length).toBe(since);
  });

  it("a request with an Origin header (a browser) is refused with 403", async () => {
    const r = await fetch(adapter.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", origin: "http://evil.example" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(r.status).toBe(403);
  });

  it("GET and DELETE on the MCP endpoint are 405 (stateless server); a bad body is a JSON-RPC parse error", async () => {
    expect((await fetch(adapter.url)).status).toBe(405);
    expect((await fetch(adapter.url, { method: "DELETE" })).status).toBe(405);
    const r = await fetch(adapter.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: "{",
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32700);
  });
});

describe("stdio", () => {
  it("the CLI serves the same tools with credentials from env", async () => {
    const c = new Client({ name: "sn-stdio", version: "1" });
    await c.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(import.meta.dirname, "..", "src", "cli.ts"), "--stdio"],
        env: {
          PATH: process.env.PATH ?? "",
          SERVICENOW_INSTANCE_URL: fake.url,
          SERVICENOW_USERNAME: "itil.agent",
          SERVICENOW_PASSWORD: "itil-password",
        },
        stderr: "pipe",
      }),
    );
    clients.push(c);
    const r = await call(c, "create_incident", { short_description: "over stdio" });
    expect(r.isError).toBeFalsy();
    expect((r.structuredContent as { incident: { sys_created_by: string } }).incident.sys_created_by).toBe("itil.agent");
  });
});
