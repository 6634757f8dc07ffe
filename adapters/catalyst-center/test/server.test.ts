// The Catalyst Center adapter as an MCP server, driven by the official SDK client over Streamable HTTP
// (credentials as injected headers) and stdio (env), against the fake; every exchange schema-checked.

import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CatalystFake, startCatalystFake } from "../src/fake/index.ts";
import { CREDENTIAL_HEADERS, type HttpAdapter, serveHttp } from "../src/host.ts";
import { siteContains } from "../src/server.ts";
import { expectExchangesValid } from "./schema-check.ts";

let fake: CatalystFake;
let adapter: HttpAdapter;
const clients: Client[] = [];
const ADMIN = { [CREDENTIAL_HEADERS.username]: "admin", [CREDENTIAL_HEADERS.password]: "admin-password" };

beforeAll(async () => {
  fake = await startCatalystFake({ deploymentDurationMs: 200, commandDurationMs: 50 });
  adapter = await serveHttp({ baseUrl: fake.url, timeoutMs: 5000 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await adapter?.close();
  if (fake) expect(expectExchangesValid(fake)).toBeGreaterThan(30);
  await fake?.close();
});

async function httpClient(headers: Record<string, string> = ADMIN): Promise<Client> {
  const c = new Client({ name: "cc-test", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(adapter.url), { requestInit: { headers } }));
  clients.push(c);
  return c;
}
const call = async (c: Client, name: string, args: Record<string, unknown> = {}) =>
  (await c.callTool({ name, arguments: args })) as CallToolResult;
const text = (r: CallToolResult) => r.content.map((x) => (x.type === "text" ? x.text : "")).join("\n");
// biome-ignore lint/suspicious/noExplicitAny: structured results in assertions
const sc = (r: CallToolResult) => r.structuredContent as any;

async function until<T>(f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("tools", () => {
  it("every tool has an output schema and annotations; deploy is destructive, the rest read-only; no credential arguments", async () => {
    const { tools } = await (await httpClient()).listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        "deploy_template",
        "get_deployment_status",
        "get_device",
        "get_device_health",
        "get_network_health",
        "get_site_health",
        "get_task",
        "get_template",
        "list_devices",
        "list_issues",
        "list_projects",
        "list_sites",
        "list_templates",
        "preview_template",
        "run_command",
      ].sort(),
    );
    for (const t of tools) {
      expect(t.outputSchema, t.name).toBeDefined();
      const expected = t.name === "deploy_template" ? { readOnlyHint: false, destructiveHint: true } : { readOnlyHint: true };
      expect(t.annotations, t.name).toMatchObject(expected);
      const props = Object.keys((t.inputSchema.properties ?? {}) as object);
      expect(
        props.filter((p) => /pass|secret|token|auth|credential/i.test(p)),
        t.name,
      ).toEqual([]);
    }
  });

  it("inventory: list and search devices (by wildcard, site, reachability), detail with health", async () => {
    const c = await httpClient();
    const all = sc(await call(c, "list_devices"));
    expect(all.count).toBe(5);
    expect(
      sc(await call(c, "list_devices", { hostname: "paris-*" }))
        .devices.map((d: { hostname: string }) => d.hostname)
        .sort(),
    ).toEqual(["paris-access-01", "paris-access-02", "paris-core-01"]);
    expect(
      sc(await call(c, "list_devices", { site: "new york" }))
        .devices.map((d: { hostname: string }) => d.hostname)
        .sort(),
    ).toEqual(["ny-access-01", "ny-core-01"]);
    expect(sc(await call(c, "list_devices", { reachability: "Unreachable" })).count).toBe(1);
    const d = sc(await call(c, "get_device", { device: "paris-access-02" }));
    expect(d.device.hostname).toBe("paris-access-02");
    expect(d.health.overallHealth).toBe(3);
    expect((await call(c, "get_device", { device: "nope-01" })).isError).toBe(true);
  });

  it("sites, site and network health, device health by site, issues by site and device", async () => {
    const c = await httpClient();
    expect(sc(await call(c, "list_sites")).sites.length).toBe(7);
    expect(sc(await call(c, "get_site_health")).sites.length).toBe(7);
    expect(sc(await call(c, "get_network_health")).health.totalDevices).toBe(5);
    expect(sc(await call(c, "get_device_health", { site: "Global/France/Paris" })).devices).toHaveLength(3);
    expect(sc(await call(c, "list_issues", { site: "paris" })).issues).toHaveLength(1);
    expect(sc(await call(c, "list_issues", { device: "paris-core-01", status: "resolved" })).issues).toHaveLength(1);
    const unknown = await call(c, "list_issues", { site: "atlantis" });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/Unknown site atlantis/);
  });

  it("a network engineer lists templates, previews one and deploys it to a site's device; status goes to SUCCESS", async () => {
    const c = await httpClient();
    expect(sc(await call(c, "list_projects")).projects[0].name).toBe("Campus Baseline");
    const tpl = sc(await call(c, "list_templates", { project: "Campus Baseline" })).templates.find(
      (t: { name: string }) => t.name === "access-vlan",
    );
    const detail = sc(await call(c, "get_template", { template_id: tpl.templateId }));
    expect(detail.template.templateContent).toContain("vlan $vlan_id");
    const preview = sc(
      await call(c, "preview_template", { template_id: tpl.templateId, params: { vlan_id: 60 }, device: "paris-access-01" }),
    );
    expect(preview.cliPreview).toBe("vlan 60\n name users\n");
    const dep = await call(c, "deploy_template", {
      template_id: tpl.templateId,
      site: "paris",
      devices: ["paris-access-01"],
      params: { vlan_id: 60 },
    });
    expect(dep.isError).toBeFalsy();
    const { deploymentId, taskId } = sc(dep);
    expect(sc(dep).devices).toEqual([expect.objectContaining({ hostname: "paris-access-01", site: "Global/France/Paris/Building 1" })]);
    const done = await until(async () => {
      const s = sc(await call(c, "get_deployment_status", { deployment_id: deploymentId }));
      return s.status === "IN_PROGRESS" ? undefined : s;
    });
    expect(done.status).toBe("SUCCESS");
    expect(sc(await call(c, "get_task", { task_id: taskId }))).toMatchObject({ done: true, isError: false });
    const show = sc(await call(c, "run_command", { site: "paris", devices: ["paris-access-01"], commands: ["show running-config"] }));
    expect(show.results[0].output["show running-config"]).toContain("vlan 60");
  });

  it("a failing deployment is reported by get_deployment_status and get_task", async () => {
    const c = await httpClient();
    const tpl = sc(await call(c, "list_templates")).templates.find((t: { name: string }) => t.name === "access-vlan");
    fake.setFailDeployments(new Set(["paris-access-02"]));
    try {
      const { deploymentId, taskId } = sc(
        await call(c, "deploy_template", {
          template_id: tpl.templateId,
          site: "paris",
          devices: ["paris-access-02"],
          params: { vlan_id: 61 },
        }),
      );
      const done = await until(async () => {
        const s = sc(await call(c, "get_deployment_status", { deployment_id: deploymentId }));
        return s.status === "IN_PROGRESS" ? undefined : s;
      });
      expect(done.status).toBe("FAILURE");
      expect(sc(await call(c, "get_task", { task_id: taskId }))).toMatchObject({ done: true, isError: true });
    } finally {
      fake.setFailDeployments(undefined);
    }
  });

  it("deploy and run_command refuse devices outside the named site, unknown devices and non read-only commands — before any change", async () => {
    const c = await httpClient();
    const tpl = sc(await call(c, "list_templates")).templates[0];
    const before = fake.state.deployments.size;
    const outside = await call(c, "deploy_template", {
      template_id: tpl.templateId,
      site: "paris",
      devices: ["ny-core-01"],
      params: { vlan_id: 1 },
    });
    expect(outside.isError).toBe(true);
    expect(text(outside)).toMatch(/not in site paris: ny-core-01 \(Global\/USA\/New York\/HQ\)/);
    const unknown = await call(c, "deploy_template", { template_id: tpl.templateId, site: "paris", devices: ["ghost-01"] });
    expect(text(unknown)).toMatch(/Unknown devices: ghost-01/);
    expect(fake.state.deployments.size).toBe(before);
    const cfg = await call(c, "run_command", { site: "paris", devices: ["paris-core-01"], commands: ["configure terminal"] });
    expect(cfg.isError).toBe(true);
    expect(text(cfg)).toMatch(/Not a read-only command/);
    const debug = await call(c, "run_command", { site: "paris", devices: ["paris-core-01"], commands: ["show version", "debug all"] });
    expect(debug.isError).toBe(true);
    const wrongSite = await call(c, "run_command", { site: "new york", devices: ["paris-core-01"], commands: ["show version"] });
    expect(text(wrongSite)).toMatch(/not in site new york/);
  });

  it("without credentials, or with wrong ones, calls are tool errors", async () => {
    const none = await call(await httpClient({}), "list_sites");
    expect(none.isError).toBe(true);
    expect(text(none)).toContain(CREDENTIAL_HEADERS.username);
    const wrong = await call(await httpClient({ ...ADMIN, [CREDENTIAL_HEADERS.password]: "wrong-pw-2931" }), "list_sites");
    expect(wrong.isError).toBe(true);
    expect(text(wrong)).toMatch(/401/);
    expect(text(wrong)).not.toContain("wrong-pw-2931");
  });

  it("bad arguments are refused by the input schema before any backend call", async () => {
    const c = await httpClient();
    await call(c, "list_sites"); // token obtained
    const since = fake.exchanges.length;
    for (const [tool, args] of [
      ["get_template", { template_id: "../../network-device" }],
      ["get_deployment_status", { deployment_id: "x" }],
      ["deploy_template", { template_id: "00000000-0000-0000-0000-000000000000", site: "paris", devices: [] }],
      ["deploy_template", { template_id: "00000000-0000-0000-0000-000000000000", site: "paris;drop", devices: ["a"] }],
      ["run_command", { site: "paris", devices: ["paris-core-01"], commands: ["show version\nconfigure terminal"] }],
      [
        "run_command",
        { site: "paris", devices: ["paris-core-01"], commands: ["show 1", "show 2", "show 3", "show 4", "show 5", "show 6"] },
      ],
      ["list_devices", { limit: 100_000 }],
      ["get_device", { device: "bad host name" }],
    ] as const) {
      const r = await call(c, tool, args);
      expect(r.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
    }
    expect(fake.exchanges.length).toBe(since);
  });

  it("a request with an Origin header (a browser) is refused with 403", async () => {
    const r = await fetch(adapter.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        origin: "http://evil.example",
        ...ADMIN,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(r.status).toBe(403);
  });

  it("siteContains: a name anywhere in the hierarchy, or a hierarchy prefix", () => {
    expect(siteContains("Global/France/Paris/Building 1", "paris")).toBe(true);
    expect(siteContains("Global/France/Paris/Building 1", "Global/France")).toBe(true);
    expect(siteContains("Global/France/Parisian", "paris")).toBe(false);
    expect(siteContains("Global/France/Parisian", "Global/France/Paris")).toBe(false);
    expect(siteContains("", "paris")).toBe(false);
  });
});

describe("stdio", () => {
  it("the CLI serves the tools with credentials from env", async () => {
    const c = new Client({ name: "cc-stdio", version: "1" });
    await c.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(import.meta.dirname, "..", "src", "cli.ts"), "--stdio"],
        env: {
          PATH: process.env.PATH ?? "",
          CATALYST_CENTER_URL: fake.url,
          CATALYST_CENTER_USERNAME: "admin",
          CATALYST_CENTER_PASSWORD: "admin-password",
        },
        stderr: "pipe",
      }),
    );
    clients.push(c);
    expect(sc(await call(c, "list_devices", { hostname: "ny-*" })).count).toBe(2);
  });
});
