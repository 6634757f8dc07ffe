// The devices adapter against a real OpenSSH sshd on loopback whose logins answer like Cisco IOS XE
// (fake-device.sh as each key's forced command), through the official MCP SDK client over Streamable
// HTTP and stdio: allow-list, per-device injected credentials, pinned host keys, output and time limits.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CatalystCenterClient } from "@mcp-edge/adapter-catalyst-center";
import { startCatalystFake } from "@mcp-edge/adapter-catalyst-center/fake";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeDevice } from "../src/fake-device.ts";
import {
  bundleFromHeaders,
  CatalystCenterInventory,
  CREDENTIALS_HEADER,
  checkCommand,
  type DevicesConfigInput,
  devicesServerFactory,
  parseBundle,
  parseDevicesConfig,
  serveHttp,
} from "../src/index.ts";
import { SshBackend } from "../src/ssh-backend.ts";
import { startSshd, type TestSshd } from "./sshd.ts";

let sshd: TestSshd;
const closers: Array<() => Promise<void>> = [];
beforeAll(async () => {
  sshd = await startSshd(["edge-1", "edge-2"]);
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await sshd?.stop();
});

type CallResult = { isError?: boolean; structuredContent?: Record<string, unknown>; content: Array<{ type: string; text?: string }> };
type RunResult = {
  device: string;
  ok: boolean;
  output: string;
  truncated: boolean;
  timed_out: boolean;
  exit_code: number | null;
  error: string | null;
};

const inventory = () => [
  { name: "edge-1", host: "127.0.0.1", port: sshd.port, platform: "ios-xe", site: "paris", hostKey: sshd.hostKey },
  { name: "edge-2", host: "127.0.0.1", port: sshd.port, platform: "ios-xe", site: "berlin", hostKey: sshd.hostKey },
];
const bundle = () => ({
  devices: {
    "edge-1": { username: sshd.user, privateKey: sshd.keys["edge-1"]! },
    "edge-2": { username: sshd.user, privateKey: sshd.keys["edge-2"]! },
  },
});
/** The header as the gateway injects it from Vault: base64 of the JSON bundle (keys have newlines). */
const header = (b: unknown = bundle()) => Buffer.from(JSON.stringify(b)).toString("base64");

async function connect(config: DevicesConfigInput = {}, credentials: string | null = header()) {
  const cfg = parseDevicesConfig({ devices: inventory(), ...config });
  const http = await serveHttp(devicesServerFactory({ config: cfg, credentials: bundleFromHeaders }));
  const client = new Client({ name: "test", version: "1" });
  const headers: Record<string, string> = credentials ? { [CREDENTIALS_HEADER]: credentials } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers } }));
  closers.push(
    () => client.close(),
    () => http.close(),
  );
  return {
    client,
    call: async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallResult,
  };
}
const results = (r: CallResult) => r.structuredContent!.results as RunResult[];
const sessions = () => (sshd.log().match(/Accepted publickey/g) ?? []).length;

describe("command allow-list", () => {
  const allow = ["show", "ping", "traceroute"];
  it.each([
    ["show version", "show version"],
    ["  SHOW   ip interface  brief ", "SHOW ip interface brief"],
    ["show running-config | include hostname", "show running-config | include hostname"],
    ["ping 192.0.2.1", "ping 192.0.2.1"],
    ["traceroute 192.0.2.1", "traceroute 192.0.2.1"],
  ])("allows %j", (cmd, normalized) => {
    expect(checkCommand(cmd, allow)).toEqual({ ok: true, command: normalized });
  });
  it.each([
    ["configure terminal", /must start with one of "show", "ping", "traceroute"/],
    ["showrun", /must start with/],
    ["reload", /must start with/],
    ["show version\nreload", /control characters/],
    ["show version\r", /control characters/],
    ["show run | redirect flash:stolen.txt", /"\| redirect" is not allowed/],
    ["show run | tee flash:x", /"\| tee" is not allowed/],
    ["show version; reload", /chaining/],
    ["show version && reload", /chaining/],
    ["show $(reload)", /chaining/],
    ["show run > flash:x", /redirection/],
    ["", /empty/],
    ["show ".repeat(200), /longer than 512/],
  ])("refuses %j", (cmd, reason) => {
    const r = checkCommand(cmd, allow);
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.reason).toMatch(reason);
  });
  it("multi-word prefixes match word by word", () => {
    expect(checkCommand("show ip route", ["show ip"]).ok).toBe(true);
    expect(checkCommand("show version", ["show ip"]).ok).toBe(false);
  });
});

describe("injected credentials", () => {
  it("accepts JSON and base64 JSON; malformed input is refused without quoting it", () => {
    const b = { default: { username: "u", password: "p-secret-1" } };
    expect(parseBundle(JSON.stringify(b)).default).toEqual(b.default);
    expect(parseBundle(Buffer.from(JSON.stringify(b)).toString("base64")).default).toEqual(b.default);
    expect(() => parseBundle("not-json-p-secret-2")).toThrow(/neither JSON nor base64/);
    try {
      parseBundle(JSON.stringify({ default: { username: "u", pasword: "p-secret-3" } }));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/malformed/);
      expect((err as Error).message).not.toContain("p-secret-3");
    }
    expect(bundleFromHeaders({ "x-device-username": "netops", "x-device-password": "pw" })?.default).toEqual({
      username: "netops",
      password: "pw",
    });
    expect(bundleFromHeaders({})).toBeUndefined();
  });
});

describe("over MCP with a real sshd", () => {
  it("lists tools with output schemas and read-only annotations, none taking a credential", async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["get_device", "list_devices", "run_command"]);
    for (const t of tools) {
      expect(t.outputSchema?.type).toBe("object");
      expect(t.annotations?.readOnlyHint).toBe(true);
      expect(Object.keys((t.inputSchema.properties ?? {}) as object).filter((p) => /user|pass|key|cred|token/i.test(p))).toEqual([]);
    }
  });

  it("lists and describes devices", async () => {
    const { call } = await connect();
    expect((await call("list_devices", { site: "paris" })).structuredContent).toEqual({
      devices: [{ name: "edge-1", host: "127.0.0.1", port: sshd.port, platform: "ios-xe", site: "paris" }],
    });
    const d = await call("get_device", { name: "edge-2" });
    expect(d.structuredContent).toMatchObject({ name: "edge-2", allowed_commands: ["show", "ping", "traceroute"], backend: "ssh" });
    expect((await call("get_device", { name: "nope" })).isError).toBe(true);
  });

  it("runs show version on two devices, each with its own injected credential", async () => {
    const { call } = await connect();
    const r = await call("run_command", { devices: ["edge-1", "edge-2"], command: "show  version" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent!.command).toBe("show version");
    const [a, b] = results(r);
    expect(a).toMatchObject({ device: "edge-1", ok: true, exit_code: 0, truncated: false, timed_out: false, error: null });
    expect(a!.output).toContain("Cisco IOS XE Software, Version 17.09.04a");
    expect(a!.output).toContain("edge-1 uptime is");
    // edge-2's key is bound to the edge-2 CLI on the server: the output proves which credential was used.
    expect(b!.output).toContain("edge-2 uptime is");
  });

  it("the device's own error comes back with its exit status", async () => {
    const { call } = await connect();
    const [r] = results(await call("run_command", { devices: ["edge-1"], command: "show foo" }));
    expect(r).toMatchObject({ ok: true, exit_code: 1 });
    expect(r!.output).toContain("% Invalid input detected at '^' marker.");
  });

  it("refused commands never open a session", async () => {
    const { call } = await connect();
    expect(results(await call("run_command", { devices: ["edge-1"], command: "show clock" }))[0]!.ok).toBe(true);
    const before = sessions();
    expect(before).toBeGreaterThan(0);
    for (const command of ["configure terminal", "show run | redirect flash:x", "show version\nreload", "reload"]) {
      const r = await call("run_command", { devices: ["edge-1"], command });
      expect(r.isError, command).toBe(true);
    }
    expect(sessions()).toBe(before);
  });

  it("cuts output at the size limit and stops the command", async () => {
    const { call } = await connect({ limits: { maxOutputBytes: 64 * 1024 } });
    const [r] = results(await call("run_command", { devices: ["edge-1"], command: "show tech-support" }));
    expect(r).toMatchObject({ ok: true, truncated: true });
    expect(Buffer.byteLength(r!.output)).toBe(64 * 1024);
  });

  it("stops a command at the time limit and returns what it printed", async () => {
    const { call } = await connect({ limits: { timeoutMs: 1500 } });
    const started = Date.now();
    const r = await call("run_command", { devices: ["edge-1"], command: "show slow" });
    const [x] = results(r);
    expect(x).toMatchObject({ ok: false, timed_out: true, error: "no complete answer within 1500 ms" });
    expect(x!.output).toContain("Building configuration...");
    expect(r.isError).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("refuses a device whose host key is not the pinned one, or is not pinned", async () => {
    const other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const cfg = parseDevicesConfig({
      devices: [
        { ...inventory()[0]!, hostKey: other },
        { ...inventory()[1]!, hostKey: undefined },
      ],
    });
    const http = await serveHttp(devicesServerFactory({ config: cfg, credentials: bundleFromHeaders }));
    closers.push(() => http.close());
    const client = new Client({ name: "t", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { [CREDENTIALS_HEADER]: header() } } }),
    );
    closers.push(() => client.close());
    const r = (await client.callTool({
      name: "run_command",
      arguments: { devices: ["edge-1", "edge-2"], command: "show version" },
    })) as CallResult;
    expect(r.isError).toBe(true);
    const [a, b] = results(r);
    expect(a!.error).toBe(`device edge-1 presented host key ${sshd.hostKey}, not the pinned ${other}`);
    expect(b!.error).toMatch(/no pinned host key/);
  });

  it("without credentials, with a wrong key, or for an unknown device: clear tool errors", async () => {
    const none = await connect({}, null);
    expect((await none.call("run_command", { devices: ["edge-1"], command: "show version" })).content[0]!.text).toMatch(
      /no device credentials/,
    );
    const wrong = await connect({}, header({ default: { username: sshd.user, password: "wrong-password-77" } }));
    const w = await wrong.call("run_command", { devices: ["edge-1"], command: "show version" });
    expect(w.isError).toBe(true);
    expect(results(w)[0]!.error).toBe(`device edge-1 refused the login of ${sshd.user}`);
    expect(JSON.stringify(w)).not.toContain("wrong-password-77");
    const bad = await connect({}, "%%%");
    expect((await bad.call("run_command", { devices: ["edge-1"], command: "show version" })).content[0]!.text).toMatch(
      /neither JSON nor base64/,
    );
    const ok = await connect();
    expect((await ok.call("run_command", { devices: ["edge-1", "ghost"], command: "show version" })).content[0]!.text).toBe(
      'unknown device "ghost"',
    );
  });

  it("the CLI serves the same tools on stdio, config from a file, credentials from the environment", async () => {
    const dir = mkdtempSync(join(tmpdir(), "devices-cli-"));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "devices.json");
    writeFileSync(file, JSON.stringify({ devices: inventory() }));
    const client = new Client({ name: "stdio", version: "1" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [fileURLToPath(new URL("../src/cli.ts", import.meta.url)), "--stdio", "--config", file],
        env: { PATH: process.env.PATH ?? "", DEVICE_CREDENTIALS: JSON.stringify(bundle()) },
        stderr: "pipe",
      }),
    );
    closers.push(() => client.close());
    const r = (await client.callTool({
      name: "run_command",
      arguments: { devices: ["edge-2"], command: "show ip interface brief" },
    })) as CallResult;
    expect(results(r)[0]!.output).toContain("GigabitEthernet1/0/1   198.51.100.1");
  });
});

describe("config and inventory", () => {
  it("bad config names the field", () => {
    expect(() => parseDevicesConfig({ devices: [{ name: "bad name", host: "h" }] })).toThrow(/devices\.0\.name/);
    expect(() => parseDevicesConfig({ limits: { timeoutMs: 10 } })).toThrow(/limits\.timeoutMs/);
    expect(() => parseDevicesConfig({ commands: { allow: ["show; reload"] } })).toThrow(/commands\.allow\.0/);
    expect(() => parseDevicesConfig({ devices: [{ name: "a", host: "h", password: "x" }] })).toThrow(/Unrecognized key/);
  });

  it("Catalyst Center inventory: network-device items become devices, cached for the TTL, last list kept on failure", async () => {
    let calls = 0;
    let down = false;
    let t = 0;
    const source = {
      async listDevices() {
        calls++;
        if (down) throw new Error("503");
        return [
          { hostname: "cat9k-1", managementIpAddress: "192.0.2.21", platformId: "C9300-24T", locationName: "paris", id: "uuid-1" },
          { hostname: null, managementIpAddress: "192.0.2.22" },
        ];
      },
    };
    const inv = new CatalystCenterInventory(source, { ttlMs: 1000, hostKeys: { "cat9k-1": sshd.hostKey }, now: () => t });
    expect(await inv.list()).toEqual([
      { name: "cat9k-1", host: "192.0.2.21", port: 22, platform: "C9300-24T", site: "paris", hostKey: sshd.hostKey, backendRef: "uuid-1" },
    ]);
    await inv.get("cat9k-1");
    expect(calls).toBe(1);
    t = 2000;
    down = true;
    expect((await inv.get("cat9k-1"))?.host).toBe("192.0.2.21");
    expect(calls).toBe(2);
    const cold = new CatalystCenterInventory(source);
    await expect(cold.list()).rejects.toThrow(/Catalyst Center inventory unavailable: 503/);
  });

  it("Catalyst Center inventory through the catalyst-center adapter's client and fake: a listed device is reachable over SSH", async () => {
    const fake = await startCatalystFake();
    closers.push(() => fake.close());
    const seeded = [...fake.state.devices.values()][0]!;
    const { id: _id, runningConfig: _rc, ...rest } = seeded;
    fake.state.addDevice({
      ...rest,
      hostname: "lab-1",
      managementIpAddress: "127.0.0.1",
      serialNumber: "FOC2999X0A9",
      macAddress: "00:1e:7a:00:00:99",
    });
    const client = new CatalystCenterClient({ baseUrl: fake.url, username: "admin", password: "admin-password" });
    const inv = new CatalystCenterInventory(client, { port: sshd.port, hostKeys: { "lab-1": sshd.hostKey } });
    const names = (await inv.list()).map((d) => d.name);
    expect(names).toContain("lab-1");
    expect(names).toContain(seeded.hostname);
    const cfg = parseDevicesConfig({});
    const http = await serveHttp(devicesServerFactory({ config: cfg, inventory: inv, credentials: bundleFromHeaders }));
    closers.push(() => http.close());
    const mcp = new Client({ name: "t", version: "1" });
    const creds = header({
      default: { username: sshd.user, password: "unused-password" },
      devices: { "lab-1": { username: sshd.user, privateKey: sshd.keys["edge-1"]! } },
    });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { [CREDENTIALS_HEADER]: creds } } }));
    closers.push(() => mcp.close());
    const r = (await mcp.callTool({ name: "run_command", arguments: { devices: ["lab-1"], command: "show version" } })) as CallResult;
    expect(results(r)[0]).toMatchObject({ device: "lab-1", ok: true, exit_code: 0 });
    // The seeded devices have no pinned host key: refused rather than trusted.
    const s = (await mcp.callTool({
      name: "run_command",
      arguments: { devices: [seeded.hostname], command: "show version" },
    })) as CallResult;
    expect(results(s)[0]!.error).toMatch(/no pinned host key/);
  });
});

describe("the fake device of the platform example answers like the real sshd", () => {
  it("same output and exit status for the same commands; wrong password refused; limits hold", async () => {
    const fake = await startFakeDevice({ hostname: "edge-1" });
    closers.push(() => fake.close());
    const ssh = new SshBackend();
    const limits = { timeoutMs: 10_000, maxOutputBytes: 256 * 1024 };
    const real = { name: "edge-1", host: "127.0.0.1", port: sshd.port, hostKey: sshd.hostKey };
    const viaFake = { name: "edge-1", host: fake.host, port: fake.port, hostKey: fake.hostKey };
    const realCred = { username: sshd.user, privateKey: sshd.keys["edge-1"]! };
    const fakeCred = { username: fake.username, password: fake.password };
    for (const cmd of [
      "show version",
      "show ip interface brief",
      "ping 192.0.2.1",
      "traceroute 192.0.2.1",
      "show foo",
      "show tech-support",
    ]) {
      const a = await ssh.run(real, cmd, realCred, limits);
      const b = await ssh.run(viaFake, cmd, fakeCred, limits);
      expect([b.output, b.exitCode, b.truncated], cmd).toEqual([a.output, a.exitCode, a.truncated]);
    }
    expect(fake.commands).toContain("show version");
    await expect(ssh.run(viaFake, "show version", { username: fake.username, password: "nope" }, limits)).rejects.toThrow(
      /refused the login/,
    );
    const slow = await ssh.run(viaFake, "show slow", fakeCred, { ...limits, timeoutMs: 1000 });
    expect(slow).toMatchObject({ timedOut: true });
  });
});
