// Mounts the REST bridge on a gateway being assembled: an extra route under /api/v1/ (the listener's
// existing hook for non-MCP endpoints), wired to the gateway's own URL once it listens.

import type { GatewayConfig } from "../config/schema.ts";
import { Guards } from "../listener/guards.ts";
import type { ExtraRoute } from "../listener/http-server.ts";
import type { RestBridge } from "./rest-bridge.ts";

const VERSION = "0.1.0";

/**
 * Adds the bridge's route when `restBridge.enabled`; returns the bridge (close it before the gateway). The bridge
 * (and the MCP SDK client it uses) is loaded only then: a gateway without it does not pay its start-up time.
 */
export async function mountRestBridge(
  config: GatewayConfig,
  extraRoutes: ExtraRoute[],
  gatewayUrl: () => string,
): Promise<RestBridge | undefined> {
  const c = config.restBridge;
  if (!c?.enabled) return undefined;
  const { BRIDGE_PREFIX, RestBridge } = await import("./rest-bridge.ts");
  const routes = new Map(
    Object.entries(config.servers).map(([name, s]) => [name, { timeoutMs: s.timeoutMs ?? config.limits.requestTimeoutMs }]),
  );
  const guards = new Guards({
    listenHost: config.listen.host,
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
    publicBaseUrl: config.publicBaseUrl,
  });
  // A wildcard listener is reached over loopback.
  const self = () => gatewayUrl().replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:");
  const bridge = new RestBridge({
    config: c,
    routes,
    guards,
    maxBodyBytes: config.limits.maxBodyBytes,
    gatewayUrl: self,
    publicUrl: () => config.publicBaseUrl ?? gatewayUrl(),
    version: VERSION,
  });
  extraRoutes.push({ path: BRIDGE_PREFIX, handle: bridge.handle });
  return bridge;
}
