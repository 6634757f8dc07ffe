// The `virtualServers:` block: routes that compose the tools, prompts and resources of several configured
// servers into one MCP server at /mcp/{virtual} (docs/virtual-servers.md; built in gateway/src/virtual).

import { z } from "zod";

const memberName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const virtualServerSchema = z
  .object({
    /** The configured servers composed, in this order (it decides the order of merged lists). */
    servers: z.array(z.string().regex(memberName, "server names are 1-64 of [A-Za-z0-9._-]")).min(1),
    /** Between a member's name and its tool or prompt name: `ops` + `__` + `get_incident`. */
    separator: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,4}$/, "1-4 of [A-Za-z0-9._-] (characters MCP allows in a tool name)")
      .default("__"),
    description: z.string().optional(),
    /** Open virtual sessions held at once (least recently used beyond it are ended). */
    maxSessions: z.number().int().positive().default(1000),
    /** A virtual session unused for this long is ended, with its backend sessions (s). */
    idleSeconds: z.number().int().positive().default(3600),
    /** A member that failed is not tried again for this long (ms); until then its calls fail at once. */
    retryDownMs: z.number().int().min(0).default(5000),
  })
  .strict();

export const virtualServersSchema = z.record(
  z.string().regex(memberName, "virtual server names are 1-64 of [A-Za-z0-9._-]"),
  virtualServerSchema,
);

export type VirtualServerConfig = z.output<typeof virtualServerSchema>;
