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
  .strict();

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
