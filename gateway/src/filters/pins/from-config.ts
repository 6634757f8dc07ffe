// Builds the pin store named by config (`governance.pins.store`); shared by the gateway and the
// `mcp-gateway tools` CLI, so both open the same file the same way.

import { resolve } from "node:path";
import type { GovernanceConfig } from "../../config/schema-governance.ts";
import { FilePinStore, MemoryPinStore, type PinStore } from "./store.ts";

export async function openPinStore(
  cfg: GovernanceConfig["pins"],
  opts: { baseDir: string; origin: string; reload: boolean; onError?: (message: string, e: unknown) => void },
): Promise<PinStore> {
  const store = cfg.store;
  if (store.type === "file") {
    return FilePinStore.open({
      path: resolve(opts.baseDir, store.path),
      origin: opts.origin,
      reloadMs: opts.reload ? cfg.reloadMs : 0,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
  }
  if (store.type === "redis") {
    // Loaded only when configured: the Redis client costs start-up time every other gateway would pay for nothing.
    const { RedisPinStore } = await import("./redis-store.ts");
    return RedisPinStore.open({
      url: store.url?.reveal(),
      socketPath: store.socketPath === undefined ? undefined : resolve(opts.baseDir, store.socketPath),
      keyPrefix: store.keyPrefix,
      origin: opts.origin,
      reloadMs: opts.reload ? cfg.reloadMs : 0,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
  }
  return new MemoryPinStore(opts.origin);
}
