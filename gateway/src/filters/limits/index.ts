// The limits stage, built from config: the filter and where its token buckets live.

import type { SharedStore } from "../../state/redis.ts";
import { createLimitsFilter, type LimitsConfig, type LimitsFilter, limitsConfigured } from "./filter.ts";
import { LocalBuckets, RedisBuckets } from "./token-bucket.ts";

export { createLimitsFilter, type LimitsConfig, type LimitsFilter, limitsConfigured } from "./filter.ts";
export { LocalBuckets, RedisBuckets } from "./token-bucket.ts";

/** The limits filter for `config`, or undefined when no limit is configured (the stage costs nothing then). */
export function limitsFromConfig(
  config: LimitsConfig & { store?: "memory" | "redis" | undefined },
  shared: SharedStore | undefined,
): LimitsFilter | undefined {
  if (!limitsConfigured(config)) return undefined;
  const redis = shared && (config.store ?? "redis") === "redis";
  return createLimitsFilter(config, redis ? new RedisBuckets(shared) : new LocalBuckets());
}
