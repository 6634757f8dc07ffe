// Config of the limits stage (the `limits` block's rate, concurrency, session and stream keys):
// validated once at load; the filter reads the parsed values.

import { z } from "zod";

export const rateSchema = z
  .object({
    /** Sustained rate of the token bucket (requests per second; fractions allowed: 0.1 = one per 10 s). */
    requestsPerSecond: z.number().positive().max(1_000_000),
    /** Bucket size: requests allowed at once after a quiet period. Default: max(1, 2 × rate). */
    burst: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();

export const routeLimitsSchema = z
  .object({
    /** Token bucket per principal × this route × tool (or method), instead of limits.rate. */
    rate: rateSchema.optional(),
    /** Token bucket per principal × this route × the named tool (tools/call), instead of the route's rate. */
    tools: z.record(z.string(), rateSchema).default({}),
    /** Requests in flight on this route, all callers together (this replica). */
    maxConcurrent: z.number().int().min(1).optional(),
  })
  .strict();

export const limitsStageFields = {
  /** Default token bucket per principal × route × tool (or method). None = no rate limit. */
  rate: rateSchema.optional(),
  /** Per-route rates, per-tool rates and route concurrency. */
  routes: z.record(z.string(), routeLimitsSchema).default({}),
  /** Requests in flight per principal, all routes together (this replica). */
  maxConcurrentPerPrincipal: z.number().int().min(1).optional(),
  /** Requests in flight per route when the route sets none (this replica). */
  maxConcurrentPerRoute: z.number().int().min(1).optional(),
  /** Open sessions per principal (a session counts until DELETE, a lost backend, or sessionIdleSeconds without use). */
  maxSessionsPerPrincipal: z.number().int().min(1).optional(),
  sessionIdleSeconds: z.number().int().min(1).default(3600),
  /** Open GET streams per principal and per session (this replica). */
  maxStreamsPerPrincipal: z.number().int().min(1).optional(),
  maxStreamsPerSession: z.number().int().min(1).optional(),
  /** Where the token buckets live: this process, or Redis (default when `redis` is set) so replicas share them. */
  store: z.enum(["memory", "redis"]).optional(),
};

export type RateConfig = z.output<typeof rateSchema>;
export type RouteLimits = z.output<typeof routeLimitsSchema>;
