#!/usr/bin/env node
// mcp-adapter-devices: the devices adapter as a process. `--config FILE` (JSON or YAML: devices,
// commands, limits); `--stdio` (credentials from DEVICE_CREDENTIALS / DEVICE_USERNAME + DEVICE_PASSWORD)
// or HTTP (`--host`, `--port`; credentials from the headers the gateway injects).

import { parseArgs } from "node:util";
import {
  bundleFromEnv,
  bundleFromHeaders,
  CatalystCenterInventory,
  type DeviceInventory,
  devicesServerFactory,
  loadDevicesConfig,
  parseDevicesConfig,
  serveHttp,
  serveStdio,
} from "./index.ts";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: process.env.DEVICES_CONFIG },
    stdio: { type: "boolean", default: false },
    host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
    port: { type: "string", default: process.env.PORT ?? "3000" },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0-65535, got ${values.port}`);
const config = values.config ? loadDevicesConfig(values.config) : parseDevicesConfig({});

// Catalyst Center as the inventory: the catalyst-center adapter's client, with the adapter's own account.
let inventory: DeviceInventory | undefined;
if (config.catalystCenter) {
  const { CatalystCenterClient } = await import("@mcp-edge/adapter-catalyst-center");
  const username = process.env.CATALYST_CENTER_USERNAME;
  const password = process.env.CATALYST_CENTER_PASSWORD;
  if (!username || !password) throw new Error("catalystCenter inventory: set CATALYST_CENTER_USERNAME and CATALYST_CENTER_PASSWORD");
  const client = new CatalystCenterClient({ baseUrl: config.catalystCenter.url, username, password });
  inventory = new CatalystCenterInventory(client, {
    ttlMs: config.catalystCenter.ttlMs,
    port: config.catalystCenter.sshPort,
    hostKeys: config.catalystCenter.hostKeys,
  });
}
const base = { config, ...(inventory ? { inventory } : {}) };

if (values.stdio) {
  const env = bundleFromEnv();
  await serveStdio(devicesServerFactory({ ...base, credentials: () => env })());
} else {
  const running = await serveHttp(devicesServerFactory({ ...base, credentials: bundleFromHeaders }), { host: values.host, port });
  console.log(`mcp-adapter-devices listening on ${running.url}`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void running.close().then(() => process.exit(0)));
}
