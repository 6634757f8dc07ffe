// The devices adapter with fake network devices, as docker-compose.yml runs it: the fake devices (SSH on the
// container's loopback, adapters/devices fake-device.ts) and then the unchanged adapter CLI in front of them.
// The fake binds 127.0.0.1 and makes a new host key at each start, so it lives in the adapter's container and
// this runner pins the fresh keys in the inventory it writes. Env: DEVICE_USERNAME, DEVICE_PASSWORD (the
// account the fakes accept: the same as secret/platform/devices, deploy/vault/seed.sh), HOST, PORT.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeDevice } from "@mcp-edge/adapter-devices/fake";

const cli = fileURLToPath(new URL("../../adapters/devices/src/cli.ts", import.meta.url));
const username = process.env.DEVICE_USERNAME ?? "netops";
const password = process.env.DEVICE_PASSWORD;
if (!password) {
  process.stderr.write("devices-lab: set DEVICE_PASSWORD (the fake devices' password, as seeded in Vault)\n");
  process.exit(2);
}

const lab = [
  { hostname: "edge-1", site: "paris" },
  { hostname: "edge-2", site: "berlin" },
];
const devices = await Promise.all(
  lab.map(async (d) => ({ ...d, fake: await startFakeDevice({ hostname: d.hostname, username, password }) })),
);
const dir = mkdtempSync(join(tmpdir(), "devices-lab-"));
const config = join(dir, "devices.json");
writeFileSync(
  config,
  JSON.stringify({
    devices: devices.map((d) => ({
      name: d.hostname,
      host: d.fake.host,
      port: d.fake.port,
      platform: "ios-xe",
      site: d.site,
      hostKey: d.fake.hostKey,
    })),
  }),
);

// The adapter reads its credentials from the gateway's headers only: its environment gets no password.
const { DEVICE_PASSWORD: _p, DEVICE_USERNAME: _u, ...env } = process.env;
const adapter = spawn(
  process.execPath,
  [cli, "--config", config, "--host", process.env.HOST ?? "127.0.0.1", "--port", process.env.PORT ?? "3000"],
  {
    env,
    stdio: "inherit",
  },
);
const stop = async (code: number) => {
  await Promise.allSettled(devices.map((d) => d.fake.close()));
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
};
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => adapter.kill(sig));
adapter.once("exit", (code, signal) => void stop(code ?? (signal ? 0 : 1)));
