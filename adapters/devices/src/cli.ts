#!/usr/bin/env node
// mcp-adapter-devices: the devices adapter as a process. `--config FILE` (JSON or YAML: devices,
// commands, limits); `--stdio` (credentials from DEVICE_CREDENTIALS / DEVICE_USERNAME + DEVICE_PASSWORD)
// or HTTP (`--host`, `--port`; credentials from the headers the gateway injects).

import { parseArgs } from "node:util";
import {
  bundleFromEnv,
  bundleFromHeaders,
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

if (values.stdio) {
  const env = bundleFromEnv();
  await serveStdio(devicesServerFactory({ config, credentials: () => env })());
} else {
  const running = await serveHttp(devicesServerFactory({ config, credentials: bundleFromHeaders }), { host: values.host, port });
  console.log(`mcp-adapter-devices listening on ${running.url}`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void running.close().then(() => process.exit(0)));
}
