// Config sub-schema of tool governance: argument validation, pinned tool definitions and human
// approval (the top-level `governance` block, and `servers.<name>.tools` per route). docs/governance.md.

import { z } from "zod";
import { plain, secret } from "./secret.ts";

const str = () => z.preprocess(plain, z.string());
// schema.ts imports this file (ESM cycle, as schema-authz.ts): the secret schema is built at parse time.
const secretField = () => z.lazy(() => secret());

/** off: nothing is pinned; warn: changes are audited but served; enforce: a changed tool is hidden and refused until approved. */
export const pinModeSchema = z.enum(["off", "warn", "enforce"]);

export const serverToolsSchema = z
  .object({
    /** Pinned tool definitions for this route. Default enforce: first sight pins, a later change waits for approval. */
    pins: pinModeSchema.default("enforce"),
    /** Validate tools/call arguments against the tool's input schema before the call reaches the backend. */
    validation: z.enum(["off", "enforce"]).default("enforce"),
  })
  .strict();

const memoryStore = z.object({ type: z.literal("memory") }).strict();
const fileStore = z
  .object({
    type: z.literal("file"),
    /** JSON file holding pins, pending changes and their history (relative to the config file). */
    path: str().pipe(z.string().min(1)),
  })
  .strict();

const redisStore = z
  .object({
    type: z.literal("redis"),
    /** redis://[user:password@]host:port[/db] or rediss://… (may be a ${…} reference). */
    url: secretField().optional(),
    /** Unix socket path of the Redis server, instead of url. */
    socketPath: str().optional(),
    /** Keys used: <keyPrefix>state (the pins, pending changes and history) and <keyPrefix>seq. */
    keyPrefix: z.string().min(1).default("mcp-gateway:pins:"),
  })
  .strict()
  .refine((r) => (r.url === undefined) !== (r.socketPath === undefined), "give exactly one of url and socketPath");

export const governanceSchema = z
  .object({
    validation: z
      .object({
        /**
         * A tools/call for a tool whose definition the gateway has not seen (never listed through it, not
         * in the pin store): forward it unvalidated (audited as such), or refuse it (TOOL_SCHEMA_UNKNOWN).
         */
        unknownTools: z.enum(["forward", "refuse"]).default("forward"),
        /** Deepest nesting of arguments accepted (objects and arrays). */
        maxDepth: z.number().int().min(1).max(1000).default(32),
        /** Most values (object members, array items, scalars) in one call's arguments. */
        maxNodes: z.number().int().min(1).max(10_000_000).default(100_000),
        /** Compiled validators kept (one per distinct tool definition). */
        cacheSize: z.number().int().min(1).max(1_000_000).default(1000),
        /** Input schemas larger than this (characters of JSON) are not compiled: calls get TOOL_SCHEMA_UNUSABLE. */
        maxSchemaChars: z
          .number()
          .int()
          .min(64)
          .default(256 * 1024),
      })
      .strict()
      .prefault({}),
    pins: z
      .object({
        /** Where pins live. memory: for this process only (nothing can be approved from the CLI); file or redis: shared. */
        store: z.union([memoryStore, fileStore, redisStore]).default({ type: "memory" }),
        /** How often the gateway re-reads a shared store for approvals made by `mcp-gateway tools approve` (ms). */
        reloadMs: z.number().int().min(50).max(600_000).default(1000),
      })
      .strict()
      .prefault({}),
    approval: z
      .object({
        /** How long the gateway waits for the user's answer to an approval request before refusing the call. */
        timeoutMs: z.number().int().min(100).max(3_600_000).default(120_000),
        /** Approval requests waiting at once (the whole gateway); more are refused with APPROVAL_BUSY. */
        maxPending: z.number().int().min(1).max(100_000).default(1000),
        /** Characters of the call's arguments shown to the user in the approval form. */
        maxArgumentChars: z.number().int().min(0).max(100_000).default(2000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type GovernanceConfig = z.output<typeof governanceSchema>;
export type ServerToolsConfig = z.output<typeof serverToolsSchema>;
export type PinMode = z.output<typeof pinModeSchema>;
