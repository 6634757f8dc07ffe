// Config block of the REST bridge (`restBridge:`): REST endpoints under /api/v1 for clients that do not
// speak MCP. Off unless enabled; validated once with the rest of the config.

import { z } from "zod";

export const restBridgeSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** A backend MCP session (per caller credential and route) unused this long is closed (s). */
    idleSeconds: z.number().int().positive().default(300),
    /** Open bridge sessions kept at most; the least recently used is closed first. */
    maxSessions: z.number().int().positive().default(1000),
    /** How long a caller's tool list is reused for argument checks and the OpenAPI document (s). */
    listCacheSeconds: z.number().int().min(0).default(30),
  })
  .strict();

export type RestBridgeConfig = z.output<typeof restBridgeSchema>;
