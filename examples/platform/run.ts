// The reference platform on one machine: the gateway in front of every adapter, each adapter in front
// of its fake backend, with embedded defaults. Run from the repository root: npm run platform
// Options: --port <n> (default 8080; 0 = any free port), --with-workflows (Temporal). See examples/platform/README.md.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { startCatalystFake } from "@mcp-edge/adapter-catalyst-center/fake";
import { startFakeDevice } from "@mcp-edge/adapter-devices/fake";
import { FIXTURES_TOKEN, startFixturesServer } from "@mcp-edge/adapter-github/fixtures";
import { DEFAULT_USERS, startServiceNowFake } from "@mcp-edge/adapter-servicenow/fake";
import { parse } from "yaml";
import { type RunningGateway, startConfiguredGateway } from "../../gateway/src/assemble.ts";
import { parseConfig } from "../../gateway/src/config/load.ts";
import { createLogger, type Logger } from "../../gateway/src/log/logger.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const adapters = fileURLToPath(new URL("../../adapters/", import.meta.url));

/** Every server of the reference architecture, and what runs it here. */
export const PLATFORM_SERVERS = ["github", "devices", "servicenow", "catalyst-center", "workflows", "rest-bridge"] as const;

export interface PlatformOptions {
  port?: number;
  /** Gateway config (default gateway.yaml next to this file: dev mode, credentials from the environment). */
  configFile?: string;
  /** Environment for config references (default process.env); the platform adds the adapter URLs and the fakes' credentials. */
  env?: NodeJS.ProcessEnv;
  /** Change the parsed config tree before it is validated (tests: an IdP on loopback, port 0). */
  patch?: (tree: Record<string, unknown>) => void;
  /** Put something in front of an adapter (tests: a recorder of the headers the adapter receives). */
  wrapUrl?: (server: string, url: string) => Promise<string>;
  /**
   * Also run the Temporal-backed workflows server and its worker (default: PLATFORM_WORKFLOWS=1 or
   * --with-workflows). Temporal: TEMPORAL_ADDRESS if set, else the Temporal Java test server
   * (bash .ci/install-temporal.sh; run in a private network namespace, which needs unshare).
   */
  workflows?: boolean;
  /** Password of the fake devices' shared account (default random; tests put it in Vault first). */
  devicePassword?: string;
  /** The recorded GitHub scenario the github adapter talks to (default add-labels-to-issue). */
  githubScenario?: string;
  logger?: Logger;
  quiet?: boolean;
}

export interface Platform {
  readonly gateway: RunningGateway;
  readonly url: string;
  /** Route → adapter URL (before wrapUrl). */
  readonly adapters: Record<string, string>;
  /** Servers of PLATFORM_SERVERS not started, with the reason. */
  readonly missing: Record<string, string>;
  /** The fakes' addresses and accounts. */
  readonly fakes: {
    github: { url: string; scenario: string; token: string };
    devices: Array<{ name: string; host: string; port: number; hostKey: string }>;
    servicenow: string;
    catalystCenter: string;
  };
  close(): Promise<void>;
}

/** What an adapter prints once it serves: "… listening on URL" (most), or a JSON line with "url" (workflows). */
const LISTENING = /listening on (http:\/\/\S+)|"url":"(http:\/\/[^"]+)"/;

/** Start an adapter's CLI and wait for the line `ready` matches (default: the URL it prints). */
async function startAdapter(
  name: string,
  cli: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp = LISTENING,
  timeoutMs = 60_000,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs / 1000} s: ${out.slice(-2000)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1] ?? m[2] ?? m[0]);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${name} exited (${code}): ${out.slice(-2000)}`));
    });
  });
  // Keep draining its output so a chatty adapter never blocks on a full pipe.
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

export async function startPlatform(o: PlatformOptions = {}): Promise<Platform> {
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  };
  const baseEnv = o.env ?? process.env;
  const childEnv: NodeJS.ProcessEnv = { PATH: baseEnv.PATH ?? process.env.PATH ?? "/usr/bin:/bin" };
  try {
    const dir = mkdtempSync(join(tmpdir(), "mcp-platform-"));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));

    // ── fakes ─────────────────────────────────────────────────────────────────────────────────
    const fixtures = await startFixturesServer({ ttlMs: 24 * 3600_000 });
    closers.push(() => fixtures.stop());
    const scenario = o.githubScenario ?? "add-labels-to-issue";
    const githubApi = await fixtures.load(scenario);

    // One shared login on every device, as a TACACS+/RADIUS account would be.
    const devicePassword = o.devicePassword ?? randomBytes(18).toString("base64url");
    const devices = await Promise.all(
      [
        { hostname: "edge-1", site: "paris" },
        { hostname: "edge-2", site: "berlin" },
      ].map(async (d) => ({ ...d, fake: await startFakeDevice({ hostname: d.hostname, username: "netops", password: devicePassword }) })),
    );
    for (const d of devices) closers.push(() => d.fake.close());

    const servicenow = await startServiceNowFake();
    closers.push(() => servicenow.close());
    const catalyst = await startCatalystFake();
    closers.push(() => catalyst.close());
    const snUser = DEFAULT_USERS.find((u) => u.user_name === "itil.agent") ?? DEFAULT_USERS[0]!;

    // ── adapters (child processes, as they run in production) ──────────────────────────────
    const started: Record<string, string> = {};
    const missing: Record<string, string> = {};
    const run = async (server: string, cli: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
      if (!existsSync(cli)) {
        missing[server] = `${relative(join(adapters, ".."), cli)} does not exist yet`;
        return;
      }
      const a = await startAdapter(server, cli, args, { ...childEnv, ...env });
      closers.push(() => stopChild(a.child));
      started[server] = a.url;
    };
    const devicesConfig = join(dir, "devices.json");
    writeFileSync(
      devicesConfig,
      JSON.stringify({
        devices: devices.map((d) => ({
          name: d.hostname,
          host: d.fake.host,
          port: d.fake.port,
          platform: "ios-xe",
          site: d.site,
          hostKey: d.fake.hostKey,
        })),
        limits: { timeoutMs: 20_000 },
      }),
    );
    await Promise.all([
      run("github", `${adapters}github/src/cli.ts`, ["--port", "0", "--api-url", githubApi]),
      run("devices", `${adapters}devices/src/cli.ts`, ["--port", "0", "--config", devicesConfig]),
      run("servicenow", `${adapters}servicenow/src/cli.ts`, ["--http", "--port", "0"], { SERVICENOW_INSTANCE_URL: servicenow.url }),
      run("catalyst-center", `${adapters}catalyst-center/src/cli.ts`, ["--http", "--port", "0"], { CATALYST_CENTER_URL: catalyst.url }),
    ]);
    if (o.workflows ?? baseEnv.PLATFORM_WORKFLOWS === "1") {
      // The worker holds the ServiceNow and Catalyst Center accounts it acts with (docs/long-running-work.md).
      let address = baseEnv.TEMPORAL_ADDRESS;
      if (!address) {
        const { startTemporalTestServer } = await import("../../adapters/workflows/src/testing/temporal-test-server.ts");
        const temporal = await startTemporalTestServer({ startTimeoutMs: 120_000 });
        closers.push(() => temporal.close());
        address = temporal.address;
      }
      const workerEnv = {
        ...childEnv,
        TEMPORAL_ADDRESS: address,
        SERVICENOW_URL: servicenow.url,
        SERVICENOW_USERNAME: snUser.user_name,
        SERVICENOW_PASSWORD: snUser.password,
        CATALYST_CENTER_URL: catalyst.url,
        CATALYST_CENTER_USERNAME: "admin",
        CATALYST_CENTER_PASSWORD: "admin-password",
      };
      // The worker bundles the workflow code at start: give it time on a busy machine.
      const worker = await startAdapter(
        "workflows worker",
        `${adapters}workflows/src/worker-main.ts`,
        [],
        workerEnv,
        /deployment worker running/,
        180_000,
      );
      closers.push(() => stopChild(worker.child));
      await run("workflows", `${adapters}workflows/src/server-main.ts`, [], { TEMPORAL_ADDRESS: address, PORT: "0" });
    } else {
      missing.workflows = "needs Temporal: start with --with-workflows (or PLATFORM_WORKFLOWS=1; README.md)";
    }
    // The gateway's REST bridge is on (/api/v1, gateway.yaml); the policy's "rest-bridge" route is an
    // OpenAPI adapter in front of some REST API, which this example has none of.
    missing["rest-bridge"] = "no REST API to put the OpenAPI adapter in front of here (the REST bridge itself is on: /api/v1)";

    // ── gateway ────────────────────────────────────────────────────────────────────────────
    const urls: Record<string, string> = {};
    for (const [server, url] of Object.entries(started)) urls[server] = o.wrapUrl ? await o.wrapUrl(server, url) : url;
    const env: NodeJS.ProcessEnv = {
      ...baseEnv,
      MCP_GATEWAY_SESSION_KEY: baseEnv.MCP_GATEWAY_SESSION_KEY ?? randomBytes(32).toString("base64url"),
      GITHUB_ADAPTER_URL: urls.github,
      DEVICES_ADAPTER_URL: urls.devices,
      SERVICENOW_ADAPTER_URL: urls.servicenow,
      CATALYST_CENTER_ADAPTER_URL: urls["catalyst-center"],
      WORKFLOWS_ADAPTER_URL: urls.workflows,
      // The fakes' accounts, for the dev config's env credential sources (the production config reads Vault).
      PLATFORM_GITHUB_TOKEN: FIXTURES_TOKEN,
      PLATFORM_DEVICE_USERNAME: "netops",
      PLATFORM_DEVICE_PASSWORD: devicePassword,
      PLATFORM_SERVICENOW_USERNAME: snUser.user_name,
      PLATFORM_SERVICENOW_PASSWORD: snUser.password,
      PLATFORM_CATALYST_USERNAME: "admin",
      PLATFORM_CATALYST_PASSWORD: "admin-password",
    };
    const file = o.configFile ?? join(here, "gateway.yaml");
    const tree = parse(readFileSync(file, "utf8")) as { listen: { port: number }; servers: Record<string, unknown> };
    if (o.port !== undefined) tree.listen.port = o.port;
    for (const server of Object.keys(tree.servers)) if (!started[server]) delete tree.servers[server];
    o.patch?.(tree as unknown as Record<string, unknown>);
    const config = parseConfig(tree, here, { env });
    const logger = o.logger ?? createLogger({ level: o.quiet ? "warn" : config.logging.level });
    const gateway = await startConfiguredGateway(config, { baseDir: here, logger, env });
    closers.push(() => gateway.close());

    return {
      gateway,
      url: gateway.url,
      adapters: started,
      missing,
      fakes: {
        github: { url: githubApi, scenario, token: FIXTURES_TOKEN },
        devices: devices.map((d) => ({ name: d.hostname, host: d.fake.host, port: d.fake.port, hostKey: d.fake.hostKey })),
        servicenow: servicenow.url,
        catalystCenter: catalyst.url,
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const p = await startPlatform({
    port: i > 0 ? Number(process.argv[i + 1]) : undefined,
    ...(process.argv.includes("--with-workflows") ? { workflows: true } : {}),
  });
  const u = p.url;
  const routes = Object.keys(p.adapters)
    .map((s) => `    ${u}/mcp/${s}`)
    .join("\n");
  const missing = Object.entries(p.missing)
    .map(([s, why]) => `    ${s}: ${why}`)
    .join("\n");
  process.stdout.write(`
mcp-gateway platform is running: listening on ${u}

  MCP endpoints (Streamable HTTP), each an adapter in front of its fake backend:
${routes}
  Not started:
${missing}

${p.gateway.banner ?? ""}

  The dev principal is in group admin; dev-1 counts as MFA-verified (loopback only), dev-2 does not.
  Try: devices → run_command {"devices": ["edge-1"], "command": "show version"};
       github → create_issue {"owner": "octokit-fixture-org", "repo": "add-labels-to-issue", "title": "Issue without a label"}
       (GitHub here is a recording: it answers exactly the recorded scenario "${p.fakes.github.scenario}", once).

Press Ctrl+C to stop.
`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void p.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
