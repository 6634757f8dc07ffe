// End to end through this repository's gateway, started from YAML as a user does: real IdP tokens, the
// default Rego policy (wasm, with a device → site inventory for the test devices), backend credentials
// from a real OpenBao injected as headers into the ServiceNow and Catalyst Center adapters, which talk
// to their fakes. A service-desk user opens and resolves an incident; a network engineer lists devices
// and deploys a template (refused without MFA, and outside their site); a service-desk user cannot
// deploy; and no adapter or fake ever sees a caller's token or cookie.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type HttpAdapter as SnAdapter, serveHttp as serveServiceNow } from "@mcp-edge/adapter-servicenow";
import { type ServiceNowFake, startServiceNowFake } from "@mcp-edge/adapter-servicenow/fake";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  account,
  idpAccounts,
  issuerYaml,
  messages,
  openSession,
  post,
  type StartedGateway,
  startFromYaml,
  userToken,
} from "../../../gateway/test/acceptance/fixtures.ts";
import { type BaoDev, findBao, startBao } from "../../../gateway/test/credentials/bao.ts";
import { type Idp, startIdp } from "../../../gateway/test/fixtures/idp.ts";
import { findOpa, REGO_DIR } from "../../../policies/test/opa.ts";
import { type CatalystFake, startCatalystFake } from "../src/fake/index.ts";
import { type HttpAdapter, serveHttp as serveCatalyst } from "../src/host.ts";
import { expectExchangesValid } from "./schema-check.ts";

const run = promisify(execFile);
const rand = (p: string) => `${p}-${randomBytes(12).toString("hex")}`;
const SESSION_KEY = rand("session-key-e2e-adapters");
const CALLER_COOKIE = rand("caller-cookie");

let dir: string;
let bao: BaoDev;
let idp: Idp;
let sn: ServiceNowFake;
let cc: CatalystFake;
let snAdapter: SnAdapter;
let ccAdapter: HttpAdapter;
let gw: StartedGateway;
const tokens: Record<string, string> = {};
/** Headers of every request each adapter received from the gateway. */
const adapterSaw: IncomingHttpHeaders[] = [];
/** Tool names of the tools/call requests the Catalyst Center adapter received. */
const ccToolCalls: string[] = [];
const clients: Client[] = [];

const SD = account("service-desk", true);
const NE = account("network-engineers", true);
const NE_PWD = account("network-engineers", false);
const ADMIN = account("admin", true);
/** The ServiceNow adapter's CLI, which the gateway spawns for the stdio route. */
const SN_CLI = join(import.meta.dirname, "..", "..", "servicenow", "src", "cli.ts");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "adapters-e2e-"));
  const baoBin = findBao();
  if (!baoBin) throw new Error("bao binary not found (PATH, $BAO_BIN)");
  [bao, idp, sn, cc] = await Promise.all([
    startBao(baoBin),
    startIdp({ accounts: idpAccounts() }),
    startServiceNowFake(),
    startCatalystFake({ deploymentDurationMs: 300 }),
  ]);
  [snAdapter, ccAdapter] = await Promise.all([serveServiceNow({ instanceUrl: sn.url }), serveCatalyst({ baseUrl: cc.url })]);
  for (const a of [snAdapter, ccAdapter]) a.server.on("request", (req) => adapterSaw.push(req.headers));
  // A second reader of the body (listeners attach in the same tick, so both see every chunk).
  ccAdapter.server.on("request", (req) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      const m = /"method"\s*:\s*"tools\/call"[\s\S]*?"name"\s*:\s*"([a-z_]+)"/.exec(body);
      if (m) ccToolCalls.push(m[1]!);
    });
  });

  // The gateway's Vault token reads api/* only; the adapters' backend credentials live there.
  await bao.api("PUT", "sys/policies/acl/gateway", { policy: 'path "secret/data/api/*" { capabilities = ["read"] }' });
  const vaultToken = (await bao.api("POST", "auth/token/create", { policies: ["gateway"], ttl: "1h" })).body.auth.client_token as string;
  await bao.api("POST", "secret/data/api/servicenow", {
    data: { client_id: "mcp-adapter", client_secret: "mcp-adapter-secret", username: "itil.agent", password: "itil-password" },
  });
  await bao.api("POST", "secret/data/api/servicenow-basic", { data: { username: "admin", password: "admin-password" } });
  await bao.api("POST", "secret/data/api/catalyst-center", { data: { username: "admin", password: "admin-password" } });

  // The default policy, with the inventory that maps the fake's devices to sites (data.mcp.config.device_sites).
  const src = await mkdtemp(join(dir, "policy-"));
  await copyFile(join(REGO_DIR, "authz.rego"), join(src, "authz.rego"));
  const data = JSON.parse(await readFile(join(REGO_DIR, "data.json"), "utf8"));
  data.mcp.config.device_sites = {
    "paris-core-01": "paris",
    "paris-access-01": "paris",
    "paris-access-02": "paris",
    "ny-core-01": "new york",
  };
  await writeFile(join(src, "data.json"), JSON.stringify(data));
  const bundle = join(dir, "bundle.tar.gz");
  await run(findOpa(), ["build", "-t", "wasm", "-e", "mcp/authz/decision", "-e", "mcp/authz/filter", "-o", bundle, src], { cwd: src });

  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
sessions:
  key: \${env:SESSION_KEY}
auth:${issuerYaml(idp)}
authz:
  engine: { type: wasm, bundle: "\${env:BUNDLE}", watch: false }
  decisionLog: { enabled: false }
vault:
  address: ${bao.address}
  auth: { method: token, token: "\${env:VAULT_TOKEN}" }
servers:
  servicenow:
    url: ${snAdapter.url}
    credentials:
      from: { vault: { path: api/servicenow } }
      inject:
        headers:
          X-ServiceNow-Client-Id: "{client_id}"
          X-ServiceNow-Client-Secret: "{client_secret}"
          X-ServiceNow-Username: "{username}"
          X-ServiceNow-Password: "{password}"
      required: true
  servicenow-stdio:
    command: ${process.execPath}
    # The instance as an argument: the gateway lower-cases the names of a server's static env entries.
    args: [${SN_CLI}, --stdio, --instance, "${sn.url}"]
    credentials:
      from: { vault: { path: api/servicenow-basic } }
      inject: { env: { SERVICENOW_USERNAME: "{username}", SERVICENOW_PASSWORD: "{password}" } }
      required: true
  catalyst-center:
    url: ${ccAdapter.url}
    credentials:
      from: { vault: { path: api/catalyst-center } }
      inject:
        headers:
          X-Catalyst-Username: "{username}"
          X-Catalyst-Password: "{password}"
      required: true
`;
  gw = await startFromYaml(yaml, { baseDir: dir, env: { SESSION_KEY, VAULT_TOKEN: vaultToken, BUNDLE: bundle } });
  for (const a of [SD, NE, NE_PWD, ADMIN]) tokens[a] = await userToken(idp, a, gw.url);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
  await Promise.all([snAdapter?.close(), ccAdapter?.close()]);
  if (cc) expectExchangesValid(cc);
  await Promise.all([sn?.close(), cc?.close(), idp?.close(), bao?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** An agent: the SDK client with the user's bearer token and a browser-ish cookie on every request. */
async function agent(route: string, acct: string): Promise<Client> {
  const c = new Client({ name: "e2e-agent", version: "1" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`), {
      requestInit: { headers: { authorization: `Bearer ${tokens[acct]}`, cookie: `sid=${CALLER_COOKIE}` } },
    }),
  );
  clients.push(c);
  return c;
}
const call = async (c: Client, name: string, args: Record<string, unknown> = {}) =>
  (await c.callTool({ name, arguments: args })) as CallToolResult;
// biome-ignore lint/suspicious/noExplicitAny: structured results in assertions
const sc = (r: CallToolResult) => r.structuredContent as any;

describe("through the gateway, with credentials from OpenBao", () => {
  it("a service-desk user opens, annotates and resolves an incident, acting as the Vault-held integration user", async () => {
    const c = await agent("servicenow", SD);
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["create_incident", "resolve_incident", "get_incident", "query_incidents"]));
    const created = await call(c, "create_incident", { short_description: "VPN drops every hour", caller_id: "itil.agent", impact: "2" });
    expect(created.isError).toBeFalsy();
    const number = sc(created).incident.number as string;
    expect((await call(c, "add_incident_work_note", { number, text: "rekey interval was 1h" })).isError).toBeFalsy();
    const resolved = await call(c, "resolve_incident", {
      number,
      close_code: "Solution provided",
      close_notes: "raised the rekey interval",
    });
    expect(sc(resolved).incident.state).toBe("6");
    expect(sc(await call(c, "get_incident", { number })).incident).toMatchObject({ state: "6", close_code: "Solution provided" });
    const rec = sn.store.findBy("incident", "number", number)!;
    expect(rec.sys_created_by).toBe("itil.agent");
    // The adapter authenticated with the injected OAuth client (password grant), not with anything of the caller's.
    expect(sn.requests.some((r) => r.url === "/oauth_token.do" && new URLSearchParams(r.body).get("client_id") === "mcp-adapter")).toBe(
      true,
    );
  });

  it("a network engineer with MFA lists devices and deploys a template to a device of their site; it completes", async () => {
    const c = await agent("catalyst-center", NE);
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("deploy_template");
    const devices = sc(await call(c, "list_devices", { site: "paris" })).devices.map((d: { hostname: string }) => d.hostname);
    expect(devices.sort()).toEqual(["paris-access-01", "paris-access-02", "paris-core-01"]);
    const tpl = sc(await call(c, "list_templates")).templates.find((t: { name: string }) => t.name === "access-vlan");
    const dep = await call(c, "deploy_template", {
      template_id: tpl.templateId,
      site: "paris",
      devices: ["paris-access-01"],
      params: { vlan_id: 77 },
    });
    expect(dep.isError, JSON.stringify(dep.content)).toBeFalsy();
    const { deploymentId } = sc(dep);
    const end = Date.now() + 15_000;
    let status = "IN_PROGRESS";
    while (status === "IN_PROGRESS" && Date.now() < end) {
      status = sc(await call(c, "get_deployment_status", { deployment_id: deploymentId })).status;
      if (status === "IN_PROGRESS") await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe("SUCCESS");
    const dev = [...cc.state.devices.values()].find((d) => d.hostname === "paris-access-01")!;
    expect(dev.runningConfig).toContain("vlan 77");
  });

  it("without MFA the deploy is refused with the step-up challenge and never reaches the adapter", async () => {
    const url = `${gw.url}/mcp/catalyst-center`;
    const h = { authorization: `Bearer ${tokens[NE_PWD]}` };
    const sid = await openSession(url, h);
    const sh = { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    await (await post(url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, sh)).text();
    const before = cc.state.deployments.size;
    const callsBefore = ccToolCalls.length;
    const tpl = [...cc.state.templates.values()][0]!;
    const r = await post(
      url,
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "deploy_template", arguments: { template_id: tpl.id, site: "paris", devices: ["paris-core-01"] } },
      },
      sh,
    );
    await messages(r);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/insufficient_user_authentication/);
    expect(cc.state.deployments.size).toBe(before);
    expect(ccToolCalls.slice(callsBefore)).toEqual([]);
    // Reads need no MFA.
    const list = await post(url, { jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "list_devices", arguments: {} } }, sh);
    const { msgs } = await messages(list);
    expect((msgs[0]?.result as { structuredContent?: { count: number } })?.structuredContent?.count).toBe(5);
    expect(ccToolCalls.slice(callsBefore)).toEqual(["list_devices"]);
  });

  it("a network engineer of Paris cannot deploy to a New York device", async () => {
    const c = await agent("catalyst-center", NE);
    await c.listTools();
    const tpl = [...cc.state.templates.values()][0]!;
    const before = cc.state.deployments.size;
    const callsBefore = ccToolCalls.length;
    const r = await c
      .callTool({
        name: "deploy_template",
        arguments: { template_id: tpl.id, site: "new york", devices: ["ny-core-01"], params: { vlan_id: 1 } },
      })
      .catch((e: unknown) => e);
    const refused = r instanceof Error ? r.message : JSON.stringify(r);
    // AUTHZ_DENIED (the reason stays in the decision log); the same user deployed to Paris above.
    expect(refused).toMatch(/-32080: Not authorized/);
    expect(cc.state.deployments.size).toBe(before);
    expect(ccToolCalls.slice(callsBefore)).toEqual([]);
  });

  it("a service-desk user sees Catalyst Center read-only: deploy is hidden and refused; reads work", async () => {
    const c = await agent("catalyst-center", SD);
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toContain("list_devices");
    expect(names).not.toContain("deploy_template");
    expect(sc(await call(c, "get_network_health")).health.totalDevices).toBe(5);
    const before = cc.state.deployments.size;
    const callsBefore = ccToolCalls.length;
    const tpl = [...cc.state.templates.values()][0]!;
    const r = await c
      .callTool({
        name: "deploy_template",
        arguments: { template_id: tpl.id, site: "paris", devices: ["paris-core-01"], params: { vlan_id: 2 } },
      })
      .catch((e: unknown) => e);
    expect(r instanceof Error ? r.message : JSON.stringify(r)).toMatch(/-32080: Not authorized/);
    expect(cc.state.deployments.size).toBe(before);
    expect(ccToolCalls.slice(callsBefore)).toEqual([]);
  });

  it("stdio: the gateway spawns the ServiceNow adapter with Vault credentials in its environment (an admin opens a problem)", async () => {
    const c = await agent("servicenow-stdio", ADMIN);
    const r = await call(c, "create_problem", { short_description: "Spawned adapter" });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect(sc(r).problem.sys_created_by).toBe("admin");
    const basic = sn.requests.filter((x) => x.headers.authorization?.startsWith("Basic "));
    expect(basic.length).toBeGreaterThan(0);
  });

  it("no adapter and no backend ever saw a caller's token or cookie; the adapters got the injected credentials", async () => {
    expect(adapterSaw.length).toBeGreaterThan(10);
    const callerSecrets = [...Object.values(tokens), CALLER_COOKIE];
    const backendHeaders = [...adapterSaw, ...sn.requests.map((r) => r.headers), ...cc.exchanges.map((e) => e.headers)];
    for (const h of backendHeaders) {
      const flat = JSON.stringify(h);
      for (const s of callerSecrets) expect(flat).not.toContain(s);
      expect(h.cookie).toBeUndefined();
    }
    const fakesBodies = [...sn.requests.map((r) => r.body), ...cc.exchanges.map((e) => JSON.stringify(e.requestBody ?? ""))].join("\n");
    for (const s of callerSecrets) expect(fakesBodies).not.toContain(s);
    for (const h of adapterSaw) {
      const injected = h["x-servicenow-client-id"] === "mcp-adapter" || h["x-catalyst-username"] === "admin";
      expect(injected).toBe(true);
      expect(h.authorization).toBeUndefined();
    }
    // And the gateway's own log holds none of the injected secrets.
    const logs = gw.logs.join("\n");
    for (const s of ["mcp-adapter-secret", "itil-password", "admin-password", ...callerSecrets]) expect(logs).not.toContain(s);
  });
});
