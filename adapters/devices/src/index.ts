// The devices adapter as a library: build its MCP server from a config, an inventory and a backend
// (SSH by default), and serve it over Streamable HTTP or stdio.

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { DeviceBackend } from "./backend.ts";
import type { DevicesConfig } from "./config.ts";
import type { CredentialBundle } from "./credentials.ts";
import { type DeviceInventory, StaticInventory } from "./inventory.ts";
import { SshBackend } from "./ssh-backend.ts";
import { type Headers, registerDevicesTools, Semaphore } from "./tools.ts";

export { serveStatelessHttp as serveHttp, serveStdioUntilEnd as serveStdio } from "@mcp-edge/adapter-kit";
export type { CommandResult, DeviceBackend, DeviceCredential, RunLimits } from "./backend.ts";
export { checkCommand } from "./commands.ts";
export { type DevicesConfig, type DevicesConfigInput, loadDevicesConfig, parseDevicesConfig } from "./config.ts";
export {
  bundleFromEnv,
  bundleFromHeaders,
  CREDENTIALS_HEADER,
  type CredentialBundle,
  PASSWORD_HEADER,
  parseBundle,
  USERNAME_HEADER,
} from "./credentials.ts";
export {
  type CatalystCenterDeviceSource,
  CatalystCenterInventory,
  type Device,
  type DeviceInventory,
  StaticInventory,
} from "./inventory.ts";
export { hostKeyFingerprint, SshBackend } from "./ssh-backend.ts";
export { Semaphore };

export interface DevicesServerOptions {
  config: DevicesConfig;
  credentials: (headers: Headers) => CredentialBundle | undefined;
  inventory?: DeviceInventory;
  backend?: DeviceBackend;
}

/** A factory of servers sharing one inventory, backend and concurrency gate (HTTP builds one per request). */
export function devicesServerFactory(o: DevicesServerOptions): () => McpServer {
  const inventory = o.inventory ?? new StaticInventory(o.config.devices);
  const backend = o.backend ?? new SshBackend({ trustUnknownHostKeys: o.config.trustUnknownHostKeys });
  const gate = new Semaphore(o.config.limits.concurrency);
  return () => {
    const server = new McpServer({ name: "mcp-edge-devices", version: "0.1.0" }, { capabilities: { tools: {} } });
    registerDevicesTools(server, { config: o.config, inventory, backend, credentials: o.credentials, gate });
    return server;
  };
}
