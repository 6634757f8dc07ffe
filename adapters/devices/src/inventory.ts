// Where the devices adapter learns which devices exist and how to reach them: a static list from its
// config file, or Cisco Catalyst Center's device inventory (refreshed after a TTL), behind one interface.

import { z } from "zod";

export const deviceSchema = z
  .object({
    /** The name callers use (and policies' device → site inventory uses). */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a device name: letters, digits, . _ -"),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    platform: z.string().optional(),
    site: z.string().optional(),
    /** Pinned SSH host key, as `ssh-keygen -l -E sha256` prints it: SHA256:<base64>. */
    hostKey: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "SHA256:<43 base64 characters>")
      .optional(),
    /** The device's name in another backend's inventory (e.g. RADKit). */
    backendRef: z.string().optional(),
  })
  .strict();

export type Device = z.infer<typeof deviceSchema>;

export interface DeviceInventory {
  list(): Promise<Device[]>;
  get(name: string): Promise<Device | undefined>;
}

export class StaticInventory implements DeviceInventory {
  readonly #byName: Map<string, Device>;
  constructor(devices: readonly Device[]) {
    this.#byName = new Map();
    for (const d of devices) {
      if (this.#byName.has(d.name)) throw new Error(`inventory: device "${d.name}" is listed twice`);
      this.#byName.set(d.name, d);
    }
  }
  async list(): Promise<Device[]> {
    return [...this.#byName.values()];
  }
  async get(name: string): Promise<Device | undefined> {
    return this.#byName.get(name);
  }
}

/**
 * The part of a Catalyst Center client this inventory needs: GET /dna/intent/api/v1/network-device
 * items (`hostname`, `managementIpAddress`, `platformId`, `locationName`, `id`). The catalyst-center
 * adapter's `CatalystCenterClient.listDevices` has this shape.
 */
export interface CatalystCenterDeviceSource {
  listDevices(): Promise<
    Array<{
      hostname?: string | null;
      managementIpAddress?: string | null;
      platformId?: string | null;
      locationName?: string | null;
      id?: string | null;
    }>
  >;
}

/**
 * Devices from Catalyst Center, cached `ttlMs`. Catalyst Center does not know SSH host keys: pin them
 * with `hostKeys` (name → SHA256:…), or the SSH backend refuses the device unless configured to trust
 * unknown keys. A failed refresh keeps the previous list.
 */
export class CatalystCenterInventory implements DeviceInventory {
  #cache: { at: number; devices: Map<string, Device> } | undefined;
  #pending: Promise<Map<string, Device>> | undefined;
  readonly source: CatalystCenterDeviceSource;
  readonly o: { ttlMs?: number; port?: number; hostKeys?: Record<string, string>; now?: () => number };
  constructor(source: CatalystCenterDeviceSource, o: CatalystCenterInventory["o"] = {}) {
    this.source = source;
    this.o = o;
  }

  async #load(): Promise<Map<string, Device>> {
    const now = (this.o.now ?? Date.now)();
    if (this.#cache && now - this.#cache.at < (this.o.ttlMs ?? 60_000)) return this.#cache.devices;
    this.#pending ??= this.source
      .listDevices()
      .then((items) => {
        const devices = new Map<string, Device>();
        for (const it of items) {
          const parsed = deviceSchema.safeParse({
            name: it.hostname ?? "",
            host: it.managementIpAddress ?? "",
            port: this.o.port ?? 22,
            ...(it.platformId ? { platform: it.platformId } : {}),
            ...(it.locationName ? { site: it.locationName } : {}),
            ...(it.hostname && this.o.hostKeys?.[it.hostname] ? { hostKey: this.o.hostKeys[it.hostname] } : {}),
            ...(it.id ? { backendRef: it.id } : {}),
          });
          // Devices without a usable hostname or management address cannot be reached by name: skipped.
          if (parsed.success) devices.set(parsed.data.name, parsed.data);
        }
        this.#cache = { at: (this.o.now ?? Date.now)(), devices };
        return devices;
      })
      .catch((err) => {
        if (this.#cache) return this.#cache.devices;
        throw new Error(`Catalyst Center inventory unavailable: ${(err as Error).message}`);
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  async list(): Promise<Device[]> {
    return [...(await this.#load()).values()];
  }
  async get(name: string): Promise<Device | undefined> {
    return (await this.#load()).get(name);
  }
}
