// Config sub-schema `admin:` — the operations listener (/healthz, /readyz, /metrics, /config), on its own
// port so the MCP port serves MCP only. Loopback by default; a container sets host 0.0.0.0 and a fixed port.

import { z } from "zod";
import { plain, secret } from "./secret.ts";

export const adminSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z.preprocess(plain, z.string()).default("127.0.0.1"),
    /** 0 picks a free port (printed at start); set a fixed one (e.g. 9090) for probes and scrapers. */
    port: z.number().int().min(0).max(65535).default(0),
    /** Bearer token required for /metrics and /config (not for the probes). Unset: no token. */
    token: secret().optional(),
    /** Bound on finishing requests in flight at shutdown or after a reload (ms). */
    drainTimeoutMs: z.number().int().min(0).default(10_000),
  })
  .strict();

export type AdminConfig = z.output<typeof adminSchema>;
