// docker-compose.yml comes up as far as this machine can check without a container engine: `docker-compose
// config` is clean, every service starts from an image or the Dockerfile (no install at start), the realm file
// has what the stack relies on; and the gateway's compose config passes `validate` and runs — after
// deploy/vault/seed.sh seeded a real `bao` — against real opa, an OIDC provider and a backend that receives
// the secret from Vault, the ServiceNow adapter whose fake receives the seeded account (never the caller's
// token), and the devices service (examples/compose/devices-lab.ts) whose fake devices accept the seeded login. The real Keycloak importing the realm is the opt-in suite (npm run test:keycloak).

import { execFile, execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { account, idpAccounts, userToken } from "../../gateway/test/acceptance/fixtures.ts";
import { findBao } from "../../gateway/test/credentials/bao.ts";
import { type Idp, startIdp } from "../../gateway/test/fixtures/idp.ts";
import { type ComposeStack, startComposeStack } from "./stack.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));

function hasDockerCompose(): boolean {
  try {
    execFileSync("docker-compose", ["version", "--short"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("docker-compose.yml", () => {
  it.skipIf(!hasDockerCompose() && !process.env.CI)("docker-compose config is clean (no warnings)", async () => {
    const { stdout, stderr } = await run("docker-compose", ["-f", join(repo, "docker-compose.yml"), "config"], { cwd: repo });
    expect(stderr.trim()).toBe("");
    expect(stdout).toContain("services:");
  });

  // merge: docker-compose.yml shares service settings through YAML merge keys (<<), as Compose applies them.
  const compose = parseYaml(readFileSync(join(repo, "docker-compose.yml"), "utf8"), { merge: true }) as {
    services: Record<string, { image?: string; build?: unknown; command?: unknown; entrypoint?: unknown; volumes?: string[] }>;
  };
  it("every service starts from an image or the Dockerfile; nothing installs packages at start", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.image ?? s.build, name).toBeDefined();
      expect(JSON.stringify([s.command ?? "", s.entrypoint ?? ""]), name).not.toMatch(/npm (ci|install)|npx |pip install|apt-get/);
    }
    expect(compose.services.gateway!.build).toEqual({ context: ".", dockerfile: "Dockerfile" });
  });

  it("every route of the compose gateway config has its service, and only the UIs publish ports", () => {
    const gw = parseYaml(readFileSync(join(repo, "examples/compose/gateway.yaml"), "utf8")) as { servers: Record<string, unknown> };
    const env = (compose.services.gateway as { environment: Record<string, string> }).environment;
    expect(Object.keys(gw.servers).sort()).toEqual(["catalyst-center", "demo", "devices", "github", "servicenow", "workflows"]);
    for (const route of Object.keys(gw.servers)) {
      const url = env[`${route.toUpperCase().replace(/-/g, "_")}${route === "demo" ? "" : "_ADAPTER"}_URL`];
      expect(url, route).toMatch(/^http:\/\/[a-z-]+:3000\/mcp$/);
      expect(compose.services[new URL(url!).hostname], route).toBeDefined();
    }
    for (const name of [
      "servicenow",
      "servicenow-fake",
      "catalyst-center",
      "catalyst-center-fake",
      "github",
      "devices",
      "workflows",
      "workflows-worker",
    ]) {
      const s = compose.services[name] as { build?: { target?: string }; ports?: unknown };
      expect(s.build?.target, name).toBe("build");
      expect(s.ports, name).toBeUndefined();
    }
    const published = Object.values(compose.services).flatMap((s) => (s as { ports?: string[] }).ports ?? []);
    for (const p of published) expect(p).toMatch(/^127\.0\.0\.1:/);
  });

  it("every file the stack mounts from the repository exists and parses", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const src = v.split(":")[0]!;
        if (!src.startsWith("./")) continue;
        if (statSync(join(repo, src)).isDirectory()) continue;
        const text = readFileSync(join(repo, src), "utf8");
        if (/\.ya?ml$/.test(src)) expect(() => parseYaml(text), `${name}: ${src}`).not.toThrow();
        if (src.endsWith(".json")) expect(() => JSON.parse(text), `${name}: ${src}`).not.toThrow();
      }
    }
  });

  it("the realm file: the four groups, a user in each, the gateway audience and groups mappers, OTP for some groups", () => {
    const realm = JSON.parse(readFileSync(join(repo, "deploy/keycloak/mcp-realm.json"), "utf8")) as {
      realm: string;
      groups: Array<{ name: string; realmRoles: string[] }>;
      users: Array<{ username: string; groups: string[] }>;
      clients: Array<{ clientId: string; protocolMappers: Array<{ protocolMapper: string; config: Record<string, string> }> }>;
      browserFlow: string;
      authenticationFlows: Array<{
        alias: string;
        authenticationExecutions: Array<{ authenticator?: string; authenticatorConfig?: string }>;
      }>;
      authenticatorConfig: Array<{ alias: string; config: Record<string, string> }>;
    };
    const groups = ["admin", "network-engineers", "service-desk", "developers"];
    expect(realm.groups.map((g) => g.name).sort()).toEqual([...groups].sort());
    for (const g of groups)
      expect(
        realm.users.some((u) => u.groups.includes(`/${g}`)),
        g,
      ).toBe(true);
    const client = realm.clients.find((c) => c.clientId === "mcp-client")!;
    const aud = client.protocolMappers.find((m) => m.protocolMapper === "oidc-audience-mapper")!;
    const gatewayConfig = parseYaml(readFileSync(join(repo, "examples/compose/gateway.yaml"), "utf8")) as { publicBaseUrl: string };
    expect(aud.config["included.custom.audience"]).toBe(`${gatewayConfig.publicBaseUrl}/mcp/demo`);
    expect(client.protocolMappers.find((m) => m.protocolMapper === "oidc-group-membership-mapper")?.config["claim.name"]).toBe("groups");
    // The browser flow asks for an OTP exactly when the user holds mfa-required, which admin and network-engineers grant.
    const flows = realm.authenticationFlows.flatMap((f) => f.authenticationExecutions);
    const cond = flows.find((e) => e.authenticator === "conditional-user-role")!;
    const role = realm.authenticatorConfig.find((c) => c.alias === cond.authenticatorConfig)!.config.condUserRole;
    expect(flows.some((e) => e.authenticator === "auth-otp-form")).toBe(true);
    expect(realm.groups.filter((g) => g.realmRoles.includes(role!)).map((g) => g.name)).toEqual(["admin", "network-engineers"]);
    expect(realm.authenticationFlows.some((f) => f.alias === realm.browserFlow)).toBe(true);
  });
});

const baoBin = findBao();
describe.skipIf(!baoBin)("examples/compose/gateway.yaml after deploy/vault/seed.sh, against real bao and opa", () => {
  let idp: Idp;
  let stack: ComposeStack;

  beforeAll(async () => {
    idp = await startIdp({ accounts: idpAccounts() });
    stack = await startComposeStack(baoBin!, idp.issuer);
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await idp?.close();
  });

  it("the seed wrote a read-only AppRole: it may read secret/demo and nothing else", async () => {
    const token = await stack.appRoleLogin();
    const read = (p: string) => fetch(`${stack.bao.address}/v1/${p}`, { headers: { "x-vault-token": token } });
    expect((await read("secret/data/demo")).status).toBe(200);
    for (const p of ["servicenow", "catalyst-center", "devices", "github"])
      expect((await read(`secret/data/platform/${p}`)).status, p).toBe(200);
    const github = (await (await read("secret/data/platform/github")).json()) as { data: { data: { token: string } } };
    expect(github.data.data.token).toBe("replace-me-with-a-github-token");
    expect((await read("sys/policies/acl")).status).toBe(403);
  });

  it("mcp-gateway validate accepts the compose config with the stack's environment", async () => {
    expect(await stack.validate()).toContain("valid (6 servers)");
  });

  it("the gateway on that config: a Keycloak-shaped token is accepted, OPA allows, the Vault secret reaches the backend", async () => {
    const gw = await stack.startGateway();
    const token = await userToken(idp, account("admin", true), stack.resource);
    await stack.callThrough(gw.url, token);
  }, 60_000);

  const connect = async (url: string, token: string) => {
    const c = new Client({ name: "compose-test", version: "1" });
    await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return c;
  };

  it("servicenow route: the adapter reaches its fake with the account from Vault, never with the caller's token", async () => {
    const gw = await stack.startGateway();
    const resource = stack.resource.replace(/\/demo$/, "/servicenow");
    const token = await userToken(idp, account("service-desk", true), resource);
    const c = await connect(`${gw.url}/mcp/servicenow`, token);
    const before = stack.servicenowFake.requests.length;
    const r = await c.callTool({ name: "query_incidents", arguments: { active: true, limit: 2 } });
    await c.close();
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    // The instance answered (a wrong account is a 401 there, hence a tool error here).
    expect(Array.isArray((r.structuredContent as { incidents: unknown[] }).incidents)).toBe(true);
    const seen = stack.servicenowFake.requests.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    const basic = `Basic ${Buffer.from(`${stack.servicenowUser.username}:${stack.servicenowUser.password}`).toString("base64")}`;
    for (const s of seen) {
      expect(s.headers.authorization).toBe(basic);
      expect(JSON.stringify(s.headers)).not.toContain(token);
    }
  }, 60_000);

  it("devices route: the fake devices accept the login from Vault; run_command returns the device's output", async () => {
    const gw = await stack.startGateway();
    const resource = stack.resource.replace(/\/demo$/, "/devices");
    const token = await userToken(idp, account("admin", true), resource);
    const c = await connect(`${gw.url}/mcp/devices`, token);
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("run_command");
    const r = await c.callTool({ name: "run_command", arguments: { devices: ["edge-1"], command: "show version" } });
    await c.close();
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect(JSON.stringify(r.structuredContent)).toContain("edge-1");
    expect(JSON.stringify(r.structuredContent)).toMatch(/Cisco IOS XE/i);
  }, 60_000);
});
