// Test helper: the compose stack's gateway side, on this machine — a real bao seeded by deploy/vault/seed.sh,
// real opa on the Rego sources, a backend recording what it receives, the ServiceNow adapter (its CLI, as
// compose runs it) in front of its fake, the devices service (examples/compose/devices-lab.ts),
// examples/compose/gateway.yaml in the compose layout (the seed volume as vault/ beside it). The OIDC issuer
// is the caller's (fixture or Keycloak). The GitHub, Catalyst Center and workflows routes point at nothing here.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_USERS, type ServiceNowFake, startServiceNowFake } from "@mcp-edge/adapter-servicenow/fake";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { expect } from "vitest";
import { parse as parseYaml } from "yaml";
import { type RunningGateway, startConfiguredGateway } from "../../gateway/src/assemble.ts";
import { createLogger } from "../../gateway/src/log/logger.ts";
import { parseConfigWithVault } from "../../gateway/src/secrets/load-with-vault.ts";
import { type Backend, startBackend } from "../../gateway/test/acceptance/fixtures.ts";
import { type BaoDev, startBao } from "../../gateway/test/credentials/bao.ts";
import { type OpaServer, REGO_DIR, startOpa } from "../../policies/test/opa.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));

export interface ComposeStack {
  readonly dir: string;
  readonly bao: BaoDev;
  readonly env: NodeJS.ProcessEnv;
  /** The route's resource URL (publicBaseUrl + /mcp/demo): the audience Keycloak's mapper puts in tokens. */
  readonly resource: string;
  appRoleLogin(): Promise<string>;
  /** `mcp-gateway validate` on the compose config; resolves to its stdout. */
  validate(): Promise<string>;
  /** The compose config on a free loopback port. */
  startGateway(): Promise<RunningGateway>;
  /** A tools/call through the gateway with `token`; checks the backend got the seeded secret, and only it. */
  callThrough(url: string, token: string): Promise<void>;
  /** The ServiceNow fake behind the servicenow route (its `requests` are what the instance received). */
  readonly servicenowFake: ServiceNowFake;
  /** The account the seed put in secret/platform/servicenow (the fake's itil.agent). */
  readonly servicenowUser: { username: string; password: string };
  close(): Promise<void>;
}

/** Start an adapter's CLI with node; resolves once it prints "… listening on URL". */
async function startCli(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start within 60 s: ${out.slice(-2000)}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${script} exited (${code}): ${out.slice(-2000)}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { url, child };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(t);
}

export async function startComposeStack(baoBin: string, issuer: string): Promise<ComposeStack> {
  const dir = mkdtempSync(join(tmpdir(), "compose-"));
  const BACKEND_TOKEN = `backend-token-${process.pid}-${Date.now()}`;
  const DEVICE_PASSWORD = randomBytes(18).toString("base64url");
  const adapterUrls: Record<string, string> = {};
  let bao: BaoDev | undefined;
  let opa: OpaServer | undefined;
  let backend: Backend | undefined;
  let servicenowFake: ServiceNowFake | undefined;
  const children: ChildProcess[] = [];
  const gateways: RunningGateway[] = [];
  const close = async () => {
    await Promise.allSettled(gateways.map((g) => g.close()));
    await Promise.allSettled([bao?.stop(), opa?.kill(), backend?.close(), servicenowFake?.close(), ...children.map(stopChild)]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    [bao, opa, backend, servicenowFake] = await Promise.all([
      startBao(baoBin),
      startOpa({ paths: [REGO_DIR] }),
      startBackend("servicenow"),
      startServiceNowFake(),
    ]);
    // As docker-compose.yml runs them (on loopback, port 0): the adapter CLI in front of the fake, and the
    // devices service with its fake devices. Neither gets a credential: the gateway injects them from Vault.
    const childEnv = { PATH: process.env.PATH };
    const [sn, dev] = await Promise.all([
      startCli(join(repo, "adapters/servicenow/src/cli.ts"), ["--http", "--host", "127.0.0.1", "--port", "0"], {
        ...childEnv,
        SERVICENOW_INSTANCE_URL: servicenowFake.url,
      }),
      startCli(join(repo, "examples/compose/devices-lab.ts"), [], {
        ...childEnv,
        DEVICE_USERNAME: "netops",
        DEVICE_PASSWORD: DEVICE_PASSWORD,
        HOST: "127.0.0.1",
        PORT: "0",
      }),
    ]);
    children.push(sn.child, dev.child);
    adapterUrls.servicenow = sn.url;
    adapterUrls.devices = dev.url;
    copyFileSync(join(repo, "examples/compose/gateway.yaml"), join(dir, "gateway.yaml"));
    mkdirSync(join(dir, "vault"));
    mkdirSync(join(dir, "log"));
    // bao's CLI is Vault's: the script runs unchanged with VAULT_CLI=bao.
    await run("sh", [join(repo, "deploy/vault/seed.sh")], {
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        VAULT_CLI: baoBin,
        VAULT_ADDR: bao.address,
        VAULT_TOKEN: bao.rootToken,
        SEED_OUT: join(dir, "vault"),
        DEMO_BACKEND_TOKEN: BACKEND_TOKEN,
        DEVICE_USERNAME: "netops",
        DEVICE_PASSWORD,
      },
    });
  } catch (e) {
    await close();
    throw e;
  }
  const b = bao;
  const be = backend;
  const snFake = servicenowFake;
  const snUser = DEFAULT_USERS.find((u) => u.user_name === "itil.agent")!;
  const env: NodeJS.ProcessEnv = {
    MCP_GATEWAY_SESSION_KEY: "compose-test-session-key-0123456789abcdef",
    OIDC_ISSUER: issuer,
    OPA_URL: opa.url,
    VAULT_ADDR: b.address,
    OTLP_ENDPOINT: "http://127.0.0.1:9",
    MCP_AUDIT_LOG: join(dir, "log/audit.log"),
    DEMO_URL: be.url,
    SERVICENOW_ADAPTER_URL: adapterUrls.servicenow,
    DEVICES_ADAPTER_URL: adapterUrls.devices,
    // Not running in this test: a closed loopback port (the gateway connects on first use).
    CATALYST_CENTER_ADAPTER_URL: "http://127.0.0.1:9/mcp",
    GITHUB_ADAPTER_URL: "http://127.0.0.1:9/mcp",
    WORKFLOWS_ADAPTER_URL: "http://127.0.0.1:9/mcp",
  };
  const publicBaseUrl = (parseYaml(readFileSync(join(dir, "gateway.yaml"), "utf8")) as { publicBaseUrl: string }).publicBaseUrl;
  return {
    dir,
    bao: b,
    env,
    resource: `${publicBaseUrl}/mcp/demo`,
    servicenowFake: snFake,
    servicenowUser: { username: snUser.user_name, password: snUser.password },
    async appRoleLogin() {
      const role_id = readFileSync(join(dir, "vault/role-id"), "utf8").trim();
      const secret_id = readFileSync(join(dir, "vault/secret-id"), "utf8").trim();
      const login = await fetch(`${b.address}/v1/auth/approle/login`, { method: "POST", body: JSON.stringify({ role_id, secret_id }) });
      return ((await login.json()) as { auth: { client_token: string } }).auth.client_token;
    },
    async validate() {
      const r = await run(process.execPath, [join(repo, "gateway/src/cli.ts"), "validate", "--config", join(dir, "gateway.yaml")], {
        env: { ...process.env, ...env },
      });
      return r.stdout;
    },
    async startGateway() {
      // The file as it is, but on free loopback ports (the stack uses 0.0.0.0:8080 and :9090 in its network).
      const tree = parseYaml(readFileSync(join(dir, "gateway.yaml"), "utf8")) as Record<string, unknown>;
      tree.listen = { host: "127.0.0.1", port: 0 };
      tree.admin = { host: "127.0.0.1", port: 0 };
      const logger = createLogger({ level: "silent" });
      const config = await parseConfigWithVault(tree, dir, { env, logger });
      const gw = await startConfiguredGateway(config, { baseDir: dir, logger, env });
      gateways.push(gw);
      return gw;
    },
    async callThrough(url, token) {
      const c = new Client({ name: "compose-test", version: "1" });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`${url}/mcp/demo`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
      );
      // Listing first, as clients do: the gateway learns get_incident is read-only (readOnlyHint) from it.
      expect((await c.listTools()).tools.map((t) => t.name)).toContain("get_incident");
      const r = await c.callTool({ name: "get_incident", arguments: { text: "INC0001" } });
      expect(r.isError).toBeFalsy();
      await c.close();
      const auths = be.seen.map((s) => s.headers.authorization);
      expect(auths.length).toBeGreaterThan(0);
      // The caller's token never reaches the backend: only the secret from Vault.
      for (const a of auths) expect(a).toBe(`Bearer ${BACKEND_TOKEN}`);
    },
    close,
  };
}
