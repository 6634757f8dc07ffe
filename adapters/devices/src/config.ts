// The devices adapter's configuration (a JSON or YAML file, or built in code): the inventory, the
// command allow-list, the limits. Validated once at start; errors name the field.

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { deviceSchema } from "./inventory.ts";

export const devicesConfigSchema = z
  .object({
    /** Static inventory. */
    devices: z.array(deviceSchema).default([]),
    /**
     * Inventory from Cisco Catalyst Center instead (GET /dna/intent/api/v1/network-device), with the
     * adapter's own read-only account from CATALYST_CENTER_USERNAME / CATALYST_CENTER_PASSWORD.
     */
    catalystCenter: z
      .object({
        url: z.url(),
        ttlMs: z.number().int().min(1000).default(60_000),
        /** SSH port of every device (Catalyst Center does not know it). */
        sshPort: z.number().int().min(1).max(65535).default(22),
        /** Pinned host keys by hostname. */
        hostKeys: z.record(z.string(), z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/)).default({}),
      })
      .strict()
      .optional(),
    commands: z
      .object({
        /** Allowed command prefixes, matched word by word (e.g. "show", "show ip"). */
        allow: z
          .array(z.string().regex(/^[A-Za-z][A-Za-z0-9 -]*$/, "words of letters, digits and -"))
          .min(1)
          .default(["show", "ping", "traceroute"]),
        maxLength: z.number().int().min(1).max(4096).default(512),
      })
      .strict()
      .default({ allow: ["show", "ping", "traceroute"], maxLength: 512 }),
    limits: z
      .object({
        timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
        maxOutputBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(256 * 1024),
        maxDevicesPerCall: z.number().int().min(1).max(100).default(10),
        /** SSH sessions open at once, across all calls of this process. */
        concurrency: z.number().int().min(1).max(256).default(8),
      })
      .strict()
      .default({ timeoutMs: 30_000, maxOutputBytes: 256 * 1024, maxDevicesPerCall: 10, concurrency: 8 }),
    /** Accept devices without a pinned host key (lab use only). */
    trustUnknownHostKeys: z.boolean().default(false),
  })
  .strict()
  .refine((c) => !(c.catalystCenter && c.devices.length > 0), {
    message: "use either devices or catalystCenter as the inventory, not both",
    path: ["catalystCenter"],
  });

export type DevicesConfig = z.infer<typeof devicesConfigSchema>;
export type DevicesConfigInput = z.input<typeof devicesConfigSchema>;

export function parseDevicesConfig(value: unknown, source = "config"): DevicesConfig {
  const r = devicesConfigSchema.safeParse(value ?? {});
  if (!r.success) {
    throw new Error(`${source}: ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  }
  return r.data;
}

export function loadDevicesConfig(file: string): DevicesConfig {
  const text = readFileSync(file, "utf8");
  return parseDevicesConfig(file.endsWith(".json") ? JSON.parse(text) : parseYaml(text), file);
}
