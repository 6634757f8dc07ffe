// The reference platform end to end. (1) `npm run platform`'s config (dev mode, env credentials) loads
// and every adapter answers through the gateway. (2) gateway.production.yaml with a real OpenID provider
// (oidc-provider, tokens carrying groups and amr as an IdP enforcing MFA at login issues them) and a real
// OpenBao holding the backend credentials: a developer creates a GitHub issue (recorded GitHub API), a
// network engineer runs `show version` on a device (SSH), a service-desk user can neither run commands
// nor deploy (Catalyst Center or the Temporal workflow), a password-only login meets the RFC 9470
// challenge, and no adapter ever sees a caller's token.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERRORS } from "../../gateway/src/errors.ts";
import { account, idpAccounts, messages, openSession, post, userToken } from "../../gateway/test/acceptance/fixtures.ts";
import { type BaoDev, findBao, setupAppRole, startBao } from "../../gateway/test/credentials/bao.ts";
import { type Idp, startIdp } from "../../gateway/test/fixtures/idp.ts";
import { type Platform, startPlatform } from "./run.ts";

type CallResult = { isError?: boolean; structuredContent?: Record<string, unknown>; content: Array<{ type: string; text?: string }> };
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
});

async function mcp(url: string, authorization: string): Promise<Client> {
  const c = new Client({ name: "platform-test", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization } } }));
  closers.push(() => c.close());
  return c;
}
const call = async (c: Client, name: string, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as CallResult;

describe("npm run platform (examples/platform/gateway.yaml, dev mode)", () => {
  let p: Platform;
  let key1: string;
  let key2: string;
  beforeAll(async () => {
    p = await startPlatform({ port: 0, quiet: true });
    closers.push(() => p.close());
    const banner = p.gateway.banner ?? "";
    key1 = /dev-1: (\S+)/.exec(banner)![1]!;
    key2 = /dev-2: (\S+)/.exec(banner)![1]!;
  }, 120_000);

  it("starts every adapter that exists and says which servers are missing", () => {
    expect(Object.keys(p.adapters).sort()).toEqual(["catalyst-center", "devices", "github", "servicenow"]);
    expect(Object.keys(p.missing).sort()).toEqual(["rest-bridge", "workflows"]);
  });

  it("each route lists its adapter's tools through the gateway", async () => {
    for (const [route, tool] of [
      ["github", "create_issue"],
      ["devices", "run_command"],
      ["servicenow", "create_incident"],
      ["catalyst-center", "deploy_template"],
    ] as const) {
      const c = await mcp(`${p.url}/mcp/${route}`, `Bearer ${key1}`);
      expect(
        (await c.listTools()).tools.map((t) => t.name),
        route,
      ).toContain(tool);
    }
  });

  it("dev-1 (MFA-verified on loopback) runs show version; dev-2 is asked to step up", async () => {
    const c = await mcp(`${p.url}/mcp/devices`, `Bearer ${key1}`);
    const r = await call(c, "run_command", { devices: ["edge-1"], command: "show version" });
    expect(r.isError).toBeFalsy();
    expect(JSON.stringify(r.structuredContent)).toContain("edge-1 uptime is");
    const sid = await openSession(`${p.url}/mcp/devices`, { authorization: `Bearer ${key2}` });
    const res = await post(
      `${p.url}/mcp/devices`,
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "run_command", arguments: { devices: ["edge-1"], command: "show version" } },
      },
      { authorization: `Bearer ${key2}`, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_user_authentication"');
    await res.text();
  });
});

describe("npm run platform: the REST bridge (/api/v1) over the same chain", () => {
  let p: Platform;
  let key1: string;
  let key2: string;
  beforeAll(async () => {
    p = await startPlatform({ port: 0, quiet: true });
    closers.push(() => p.close());
    key1 = /dev-1: (\S+)/.exec(p.gateway.banner ?? "")![1]!;
    key2 = /dev-2: (\S+)/.exec(p.gateway.banner ?? "")![1]!;
  }, 120_000);

  it("a script runs show version with plain HTTP; without MFA it gets the same challenge", async () => {
    const list = await fetch(`${p.url}/api/v1/mcp/devices/tools`, { headers: { authorization: `Bearer ${key1}` } });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toContain("run_command");
    const call = (key: string) =>
      fetch(`${p.url}/api/v1/mcp/devices/tools/run_command`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ arguments: { devices: ["edge-2"], command: "show ip interface brief" } }),
      });
    const ok = await call(key1);
    expect(ok.status).toBe(200);
    expect(JSON.stringify(await ok.json())).toContain("GigabitEthernet1/0/1");
    const challenged = await call(key2);
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get("www-authenticate")).toContain('error="insufficient_user_authentication"');
    await challenged.text();
  });
});

describe("gateway.production.yaml: OpenID provider, credentials from a real OpenBao", () => {
  const bin = findBao();
  let bao: BaoDev;
  let idp: Idp;
  let p: Platform;
  const seen: Array<{ server: string; headers: IncomingHttpHeaders }> = [];
  const callerTokens: string[] = [];
  const devicePassword = randomBytes(18).toString("base64url");
  const token = async (acct: string) => {
    const t = await userToken(idp, acct, p.url);
    callerTokens.push(t);
    return `Bearer ${t}`;
  };

  /** A pass-through in front of an adapter that records the headers the gateway sends it. */
  async function recorder(server: string, target: string): Promise<string> {
    const t = new URL(target);
    const http: Server = createServer((req, res) => {
      seen.push({ server, headers: req.headers });
      const up = request({ host: t.hostname, port: t.port, path: t.pathname, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => res.writeHead(502).end());
      req.pipe(up);
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    closers.push(
      () =>
        new Promise<void>((r) => {
          http.closeAllConnections();
          http.close(() => r());
        }),
    );
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}${t.pathname}`;
  }

  beforeAll(async () => {
    if (!bin) throw new Error("bao not found: run bash .ci/tools.sh (tools/openbao/install-bao.sh)");
    [bao, idp] = await Promise.all([startBao(bin), startIdp({ accounts: idpAccounts() })]);
    closers.push(
      () => bao.stop(),
      () => idp.close(),
    );
    // The gateway's own Vault identity: read-only on the platform's secrets, nothing else.
    await bao.api("PUT", "sys/policies/acl/mcp-platform", { policy: 'path "secret/data/platform/*" { capabilities = ["read"] }' });
    const { roleId, secretId } = await setupAppRole(bao, "mcp-platform", ["mcp-platform"]);
    await bao.api("POST", `secret/data/platform/github/users/${account("developers", true)}`, {
      data: { token: "0000000000000000000000000000000000000001" },
    });
    await bao.api("POST", "secret/data/platform/devices", { data: { username: "netops", password: devicePassword } });
    await bao.api("POST", "secret/data/platform/servicenow", { data: { username: "itil.agent", password: "itil-password" } });
    await bao.api("POST", "secret/data/platform/catalyst-center", { data: { username: "admin", password: "admin-password" } });
    p = await startPlatform({
      port: 0,
      quiet: true,
      devicePassword,
      configFile: fileURLToPath(new URL("./gateway.production.yaml", import.meta.url)),
      // No credential in the gateway's environment: only Vault's address and the AppRole login.
      env: { PATH: process.env.PATH, OIDC_ISSUER: idp.issuer, VAULT_ADDR: bao.address, VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId },
      patch: (tree) => {
        // The test IdP is plain http on loopback and the port is only known once listening.
        delete tree.publicBaseUrl;
        const auth = tree.auth as Record<string, unknown>;
        auth.allowInsecureLoopback = true;
        auth.acceptBaseUrlAudience = true;
      },
      wrapUrl: recorder,
      workflows: true,
    });
    closers.push(() => p.close());
  }, 400_000);

  it("a developer creates a GitHub issue and labels it (their own token, from Vault)", async () => {
    const c = await mcp(`${p.url}/mcp/github`, await token(account("developers", true)));
    const created = await call(c, "create_issue", {
      owner: "octokit-fixture-org",
      repo: "add-labels-to-issue",
      title: "Issue without a label",
    });
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ number: 1, title: "Issue without a label", state: "open" });
    const labelled = await call(c, "add_labels_to_issue", {
      owner: "octokit-fixture-org",
      repo: "add-labels-to-issue",
      issue_number: 1,
      labels: ["Foo", "bAr", "baZ"],
    });
    expect((labelled.structuredContent!.labels as Array<{ name: string }>).map((l) => l.name)).toEqual(["Foo", "bAr", "baZ"]);
    // Nobody else has a GitHub route: a network engineer is refused before any adapter is reached.
    await expect(mcp(`${p.url}/mcp/github`, await token(account("network-engineers", true)))).rejects.toThrow();
  });

  it("a network engineer runs show version on a device", async () => {
    const c = await mcp(`${p.url}/mcp/devices`, await token(account("network-engineers", true)));
    const r = await call(c, "run_command", { devices: ["edge-1", "edge-2"], command: "show version" });
    expect(r.isError).toBeFalsy();
    const results = r.structuredContent!.results as Array<{ device: string; output: string; exit_code: number }>;
    expect(results.map((x) => [x.device, x.exit_code])).toEqual([
      ["edge-1", 0],
      ["edge-2", 0],
    ]);
    expect(results[0]!.output).toContain("edge-1 uptime is");
    expect(results[1]!.output).toContain("Cisco IOS XE Software");
  });

  it("without MFA at login, the same call answers the RFC 9470 step-up challenge", async () => {
    const auth = await token(account("network-engineers", false));
    const url = `${p.url}/mcp/devices`;
    const sid = await openSession(url, { authorization: auth });
    const res = await post(
      url,
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "run_command", arguments: { devices: ["edge-1"], command: "show version" } },
      },
      { authorization: auth, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/error="insufficient_user_authentication".*acr_values="mfa"/);
    await messages(res);
  });

  it("a service-desk user sees the network but can neither run commands nor deploy", async () => {
    const auth = await token(account("service-desk", true));
    const devices = await mcp(`${p.url}/mcp/devices`, auth);
    expect((await devices.listTools()).tools.map((t) => t.name).sort()).toEqual(["get_device", "list_devices"]);
    expect((await call(devices, "list_devices", {})).structuredContent!.devices).toHaveLength(2);
    await expect(
      devices.callTool({ name: "run_command", arguments: { devices: ["edge-1"], command: "show version" } }),
    ).rejects.toMatchObject({
      code: ERRORS.AUTHZ_DENIED.rpc,
    });
    const cc = await mcp(`${p.url}/mcp/catalyst-center`, auth);
    const visible = (await cc.listTools()).tools.map((t) => t.name);
    expect(visible).toContain("list_devices");
    expect(visible).not.toContain("deploy_template");
    expect(visible).not.toContain("run_command");
    expect((await call(cc, "list_devices", {})).isError).toBeFalsy();
    for (const [name, args] of [
      ["deploy_template", { templateId: "x", devices: ["x"], site: "paris" }],
      ["run_command", { devices: ["x"], commands: ["show version"] }],
    ] as const) {
      await expect(cc.callTool({ name, arguments: args })).rejects.toMatchObject({ code: ERRORS.AUTHZ_DENIED.rpc });
    }
  });

  it("deploy_template (Temporal workflow): a network engineer with MFA reaches it, without MFA is challenged, the service desk has no access", async () => {
    expect(p.adapters.workflows).toBeDefined();
    const ne = await mcp(`${p.url}/mcp/workflows`, await token(account("network-engineers", true)));
    expect((await ne.listTools()).tools.map((t) => t.name)).toContain("deploy_template");
    // An unknown template: the workflow's validation refuses it (the call got through the gateway to Temporal).
    const r = await ne.callTool({
      name: "deploy_template",
      arguments: { idempotencyKey: `e2e-${randomBytes(6).toString("hex")}`, templateId: "no-such-template", targets: ["edge-1"] },
    });
    // The workflow ran (Temporal gave it an id) and its validation asked Catalyst Center, which has no such template.
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ outcome: "failed", templateId: "no-such-template" });
    expect((r.structuredContent as { message: string }).message).toMatch(/404 Template not found/);
    expect((r._meta as Record<string, unknown>)["mcp-edge/workflow-id"]).toMatch(/^deploy-template-/);
    const pwd = await token(account("network-engineers", false));
    const sid = await openSession(`${p.url}/mcp/workflows`, { authorization: pwd });
    const res = await post(
      `${p.url}/mcp/workflows`,
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "deploy_template", arguments: { idempotencyKey: "e2e-no-mfa-1", templateId: "t", targets: ["edge-1"] } },
      },
      { authorization: pwd, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain('error="insufficient_user_authentication"');
    await res.text();
    // The service desk holds no grant on the workflows server: not even initialize gets through.
    await expect(mcp(`${p.url}/mcp/workflows`, await token(account("service-desk", true)))).rejects.toThrow();
  }, 120_000);

  it("no adapter ever saw a caller's token; each saw only its injected credential", () => {
    expect(callerTokens.length).toBeGreaterThanOrEqual(4);
    expect(new Set(seen.map((s) => s.server))).toEqual(new Set(["github", "devices", "catalyst-center", "workflows"]));
    for (const s of seen) {
      const text = JSON.stringify(s.headers);
      for (const t of callerTokens) expect(text).not.toContain(t);
      expect(s.headers.authorization, s.server).toBeUndefined();
      expect(s.headers.cookie, s.server).toBeUndefined();
    }
    const gh = seen.filter((s) => s.server === "github" && s.headers["content-type"]);
    expect(gh.length).toBeGreaterThan(0);
    for (const s of gh) expect(s.headers["x-github-token"]).toBe("0000000000000000000000000000000000000001");
    for (const s of seen.filter((x) => x.server === "devices")) expect(s.headers["x-device-password"]).toBe(devicePassword);
  });
});
