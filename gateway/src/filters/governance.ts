// Builds the tool-governance stages from config: one tool catalog and pin store shared by the pins
// and validation stages, and the approval stage. docs/governance.md.

import type { Filter } from "../chain/types.ts";
import type { GatewayConfig } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { createApprovalFilter } from "./approval/filter.ts";
import { createPinsFilter, type PinMode } from "./pins/filter.ts";
import { openPinStore } from "./pins/from-config.ts";
import type { PinStore } from "./pins/store.ts";
import { ToolCatalog } from "./tool-catalog/catalog.ts";
import { createValidationFilter } from "./validation/filter.ts";

export interface Governance {
  readonly filters: Filter[];
  readonly store: PinStore;
  readonly catalog: ToolCatalog;
  close(): Promise<void>;
}

export async function startGovernance(
  config: GatewayConfig,
  opts: { baseDir: string; gatewayId: string; logger: Logger },
): Promise<Governance> {
  const g = config.governance;
  const servers = Object.entries(config.servers);
  const pinModes: Record<string, PinMode> = Object.fromEntries(servers.map(([n, s]) => [n, s.tools.pins]));
  const validationModes = Object.fromEntries(servers.map(([n, s]) => [n, s.tools.validation]));
  const logger = opts.logger;
  const store = await openPinStore(g.pins, {
    baseDir: opts.baseDir,
    origin: opts.gatewayId,
    reload: true,
    onError: (message, e) => logger.error(message, { "error.message": (e as Error).message }),
  });
  if (store.kind === "memory" && Object.values(pinModes).some((m) => m !== "off")) {
    logger.info("tool pins are kept in memory: they start again from first sight after a restart and cannot be approved from the CLI", {
      "mcp_gateway.pins.store": "memory",
    });
  }
  const catalog = new ToolCatalog();
  const pins = createPinsFilter({
    routes: pinModes,
    store,
    catalog,
    gatewayId: opts.gatewayId,
    warn: (message, fields) => logger.warn(message, fields),
  });
  const validation = createValidationFilter({ routes: validationModes, lookup: (r, t) => pins.lookup(r, t), ...g.validation });
  const filters: Filter[] = [pins, validation];
  // Approval follows a policy decision (require_approval): without a policy there is nothing to ask.
  if (config.authz) filters.push(createApprovalFilter({ ...g.approval, gatewayId: opts.gatewayId }));
  return {
    filters,
    store,
    catalog,
    close: () => store.close(),
  };
}
