// The devices adapter's tools: list and describe devices, and run allow-listed read-only commands on
// them through a DeviceBackend, with per-device credentials from the gateway and bounded output and time.

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { DeviceBackend } from "./backend.ts";
import { checkCommand } from "./commands.ts";
import type { DevicesConfig } from "./config.ts";
import { type CredentialBundle, credentialFor } from "./credentials.ts";
import type { Device, DeviceInventory } from "./inventory.ts";

export type Headers = Record<string, string | string[] | undefined> | undefined;

export interface DevicesToolsOptions {
  config: DevicesConfig;
  inventory: DeviceInventory;
  backend: DeviceBackend;
  /** The call's credentials: from the injected headers (HTTP) or the environment (stdio). Throws if malformed. */
  credentials: (headers: Headers) => CredentialBundle | undefined;
  /** Shared across the servers of one process, so `limits.concurrency` bounds the whole process. */
  gate: Semaphore;
}

/** Bounds concurrent SSH sessions: callers queue instead of opening unbounded connections. */
export class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  constructor(n: number) {
    this.#free = n;
  }
  async use<T>(f: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiting.push(r));
    try {
      return await f();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

const deviceOut = z.object({
  name: z.string(),
  host: z.string(),
  port: z.number(),
  platform: z.string().nullable(),
  site: z.string().nullable(),
});
const publicDevice = (d: Device) => ({ name: d.name, host: d.host, port: d.port, platform: d.platform ?? null, site: d.site ?? null });
const resultOut = z.object({
  device: z.string(),
  ok: z.boolean(),
  output: z.string(),
  truncated: z.boolean(),
  timed_out: z.boolean(),
  exit_code: z.number().nullable(),
  duration_ms: z.number(),
  error: z.string().nullable(),
});

type Extra = { signal: AbortSignal; requestInfo?: { headers: Record<string, string | string[] | undefined> } };
type Result = { content: { type: "text"; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean };
const ok = (out: Record<string, unknown>): Result => ({ content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out });
const fail = (text: string): Result => ({ content: [{ type: "text", text }], isError: true });
const deviceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a device name");

export function registerDevicesTools(server: McpServer, o: DevicesToolsOptions): void {
  const { config, inventory, backend } = o;
  const allow = config.commands.allow;

  server.registerTool(
    "list_devices",
    {
      title: "List devices",
      description: "Devices in the inventory, optionally filtered by site or platform.",
      inputSchema: { site: z.string().max(200).optional(), platform: z.string().max(200).optional() },
      outputSchema: { devices: z.array(deviceOut) },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a): Promise<Result> => {
      try {
        const all = await inventory.list();
        const devices = all.filter((d) => (!a.site || d.site === a.site) && (!a.platform || d.platform === a.platform)).map(publicDevice);
        return ok({ devices });
      } catch (err) {
        return fail((err as Error).message);
      }
    },
  );

  server.registerTool(
    "get_device",
    {
      title: "Get device",
      description: "One device, and the command prefixes run_command accepts.",
      inputSchema: { name: deviceName },
      outputSchema: { ...deviceOut.shape, allowed_commands: z.array(z.string()), backend: z.string() },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (a): Promise<Result> => {
      try {
        const d = await inventory.get(a.name);
        if (!d) return fail(`unknown device "${a.name}"`);
        return ok({ ...publicDevice(d), allowed_commands: [...allow], backend: backend.name });
      } catch (err) {
        return fail((err as Error).message);
      }
    },
  );

  server.registerTool(
    "run_command",
    {
      title: "Run read-only command",
      description:
        `Run one read-only CLI command on one or more devices and return each device's output. ` +
        `Allowed: commands starting with ${allow.map((p) => `"${p}"`).join(", ")}, optionally piped to include/exclude/begin/section/count. ` +
        `Output is cut at ${config.limits.maxOutputBytes} bytes and each device gets ${config.limits.timeoutMs} ms.`,
      inputSchema: {
        devices: z.array(deviceName).min(1).max(config.limits.maxDevicesPerCall).describe("Device names (from list_devices)"),
        command: z.string().min(1).max(config.commands.maxLength).describe("e.g. show version"),
      },
      outputSchema: { command: z.string(), results: z.array(resultOut) },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    async (a, extra: Extra): Promise<Result> => {
      const check = checkCommand(a.command, allow, config.commands.maxLength);
      if (!check.ok) return fail(check.reason);
      if (new Set(a.devices).size !== a.devices.length) return fail("a device is named twice");
      let bundle: CredentialBundle | undefined;
      try {
        bundle = o.credentials(extra.requestInfo?.headers);
      } catch (err) {
        return fail((err as Error).message);
      }
      if (!bundle)
        return fail("no device credentials: the gateway injects them (X-Device-Credentials, or X-Device-Username and X-Device-Password)");
      // Every device must be known before anything runs: a call is refused whole, never half-run.
      const devices: Device[] = [];
      try {
        for (const name of a.devices) {
          const d = await inventory.get(name);
          if (!d) return fail(`unknown device "${name}"`);
          devices.push(d);
        }
      } catch (err) {
        return fail((err as Error).message);
      }
      const limits = { timeoutMs: config.limits.timeoutMs, maxOutputBytes: config.limits.maxOutputBytes };
      const results = await Promise.all(
        devices.map((d) =>
          o.gate
            .use(() => backend.run(d, check.command, credentialFor(bundle, d.name), limits, extra.signal))
            .then((r) => ({
              device: d.name,
              ok: !r.timedOut,
              output: r.output,
              truncated: r.truncated,
              timed_out: r.timedOut,
              exit_code: r.exitCode,
              duration_ms: r.durationMs,
              error: r.timedOut ? `no complete answer within ${limits.timeoutMs} ms` : null,
            }))
            .catch((err: Error) => ({
              device: d.name,
              ok: false,
              output: "",
              truncated: false,
              timed_out: false,
              exit_code: null,
              duration_ms: 0,
              error: err.message,
            })),
        ),
      );
      const out = { command: check.command, results };
      // The call failed when no device answered; per-device failures are reported in the results.
      return results.some((r) => r.ok) ? ok(out) : { ...ok(out), isError: true };
    },
  );
}
