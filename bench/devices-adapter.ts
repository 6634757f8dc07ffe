// Benchmark of the devices adapter: what MCP and the gateway add to a device command. Three paths to the
// same fake SSH device, interleaved round by round: SSH alone (SshBackend.run), the adapter over MCP
// (credentials in headers, as the gateway would inject them), and the gateway in front of the adapter
// (dev key, credentials injected from env). Also list_devices (no SSH): adapter direct vs gateway.
// Run: `node bench/devices-adapter.ts` (BENCH_ROUNDS, BENCH_CALLS). Prints p50s and ratios.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SshBackend } from "../adapters/devices/src/ssh-backend.ts";
import { startPlatform } from "../examples/platform/run.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CALLS = Number(process.env.BENCH_CALLS ?? 20);
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const password = "bench-device-password-0123";
const p = await startPlatform({ port: 0, quiet: true, devicePassword: password });
try {
  const key = /dev-1: (\S+)/.exec(p.gateway.banner ?? "")![1]!;
  const dev = p.fakes.devices[0]!;
  const device = { name: dev.name, host: dev.host, port: dev.port, hostKey: dev.hostKey };
  const ssh = new SshBackend();
  const limits = { timeoutMs: 20_000, maxOutputBytes: 256 * 1024 };
  const connect = async (url: string, headers: Record<string, string>) => {
    const c = new Client({ name: "bench", version: "1" });
    await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
    return c;
  };
  const direct = await connect(p.adapters.devices!, { "x-device-username": "netops", "x-device-password": password });
  const viaGateway = await connect(`${p.url}/mcp/devices`, { authorization: `Bearer ${key}` });
  const args = { devices: [dev.name], command: "show clock" };

  const samples: Record<string, number[]> = { ssh: [], "mcp-direct": [], gateway: [], "list-direct": [], "list-gateway": [] };
  const time = async (name: string, f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    samples[name]!.push(performance.now() - t0);
  };
  const check = (r: unknown) => {
    const out = JSON.stringify((r as { structuredContent?: unknown }).structuredContent);
    if (!out.includes("UTC")) throw new Error(`unexpected answer: ${out.slice(0, 200)}`);
  };
  // Warm-up: one of each.
  await ssh.run(device, "show clock", { username: "netops", password }, limits);
  check(await direct.callTool({ name: "run_command", arguments: args }));
  check(await viaGateway.callTool({ name: "run_command", arguments: args }));
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < CALLS; i++) {
      await time("ssh", () => ssh.run(device, "show clock", { username: "netops", password }, limits));
      await time("mcp-direct", async () => check(await direct.callTool({ name: "run_command", arguments: args })));
      await time("gateway", async () => check(await viaGateway.callTool({ name: "run_command", arguments: args })));
      await time("list-direct", () => direct.callTool({ name: "list_devices", arguments: {} }));
      await time("list-gateway", () => viaGateway.callTool({ name: "list_devices", arguments: {} }));
    }
  }
  const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, p50(v)]));
  const rows = [
    ["run_command show clock: SSH alone", m.ssh!],
    ["run_command: adapter over MCP", m["mcp-direct"]!],
    ["run_command: through the gateway", m.gateway!],
    ["list_devices: adapter over MCP", m["list-direct"]!],
    ["list_devices: through the gateway", m["list-gateway"]!],
  ] as const;
  for (const [name, ms] of rows) process.stdout.write(`${name.padEnd(40)} p50 ${ms.toFixed(2)} ms\n`);
  process.stdout.write(
    `ratios (p50): adapter/SSH ${(m["mcp-direct"]! / m.ssh!).toFixed(2)}, gateway/adapter ${(m.gateway! / m["mcp-direct"]!).toFixed(2)} (run_command), ` +
      `${(m["list-gateway"]! / m["list-direct"]!).toFixed(2)} (list_devices); ${ROUNDS * CALLS} calls each\n`,
  );
  await direct.close();
  await viaGateway.close();
} finally {
  await p.close();
}
