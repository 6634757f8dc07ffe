// The pins stage: the first definition of each tool seen per route is pinned; a later, different one
// is hidden from tools/list and its calls refused (mode enforce) until an operator approves it.

import { LRUCache } from "lru-cache";
import type { Exchange, Filter } from "../../chain/types.ts";
import { isObject, type RpcMessage } from "../../codec/jsonrpc.ts";
import { channels, type GovernanceEvent } from "../../diagnostics.ts";
import { GatewayError } from "../../errors.ts";
import type { KnownTool, ToolCatalog } from "../tool-catalog/catalog.ts";
import type { PinEvent } from "./state.ts";
import type { PinStore } from "./store.ts";

export type PinMode = "off" | "warn" | "enforce";

export interface PinsFilterOptions {
  /** Route → mode (config servers.<name>.tools.pins); a route not listed is enforced. */
  routes: Readonly<Record<string, PinMode>>;
  store: PinStore;
  catalog: ToolCatalog;
  gatewayId?: string;
  warn?: (message: string, fields: Record<string, unknown>) => void;
}

export interface PinsFilter extends Filter {
  /** The definition calls are validated against: the one served now, else the pin (validation stage). */
  lookup(route: string, tool: string): KnownTool | undefined;
}

const EVENT_TYPE: Record<PinEvent["type"], GovernanceEvent["type"]> = {
  pinned: "tool.pinned",
  changed: "tool.changed",
  approved: "tool.approved",
};

/** `exchange`: the request whose tools/list showed the definition (its user is audited as who saw the change). */
export function publishPinEvent(e: PinEvent, gatewayId: string | undefined, exchange?: Exchange): void {
  if (!channels.governance.hasSubscribers) return;
  const ev: GovernanceEvent = {
    gatewayId,
    type: EVENT_TYPE[e.type],
    server: e.route,
    tool: e.tool,
    hash: e.hash,
    ...(e.previousHash ? { previousHash: e.previousHash } : {}),
    ...(e.by ? { by: e.by } : {}),
    ...(exchange ? { exchange } : {}),
  };
  channels.governance.publish(ev);
}

export function createPinsFilter(o: PinsFilterOptions): PinsFilter {
  const mode = (route: string): PinMode => o.routes[route] ?? "enforce";
  // Named tools whose definition cannot even be hashed (nested past what JSON.stringify handles): never served
  // nor callable in enforce. Bounded: a forgotten one is merely treated as never listed.
  const unusable = new LRUCache<string, true>({ max: 10_000 });
  o.store.onExternalEvent((e) => publishPinEvent(e, o.gatewayId));

  function hasUnpinned(route: string, msg: RpcMessage): boolean {
    const result = msg.raw.result;
    if (!isObject(result) || !Array.isArray(result.tools)) return false;
    for (const t of result.tools as unknown[]) {
      const name = (t as { name?: unknown } | null)?.name;
      if (typeof name === "string" && o.store.pinned(route, name) === undefined) return true;
    }
    return false;
  }

  function listed(ex: Exchange, msg: RpcMessage): RpcMessage {
    const route = ex.server;
    const result = msg.raw.result;
    if (!isObject(result) || !Array.isArray(result.tools)) return msg;
    const m = mode(route);
    const list = result.tools as unknown[];
    let kept: unknown[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const known = o.catalog.learn(route, list[i]);
      if (m === "off") {
        kept?.push(list[i]);
        continue;
      }
      if (!known) {
        const name = (list[i] as { name?: unknown } | null)?.name;
        // Unnamed entries are dropped by authz anyway; a named one we cannot pin is not served in enforce.
        if (m === "enforce" && typeof name === "string") {
          unusable.set(`${route}\u0000${name}`, true);
          kept ??= list.slice(0, i);
        } else kept?.push(list[i]);
        continue;
      }
      for (const e of o.store.observe(route, known)) {
        publishPinEvent(e, o.gatewayId, ex);
        if (e.type === "changed") {
          o.warn?.(m === "enforce" ? "tool definition changed; hidden until approved" : "tool definition changed (pins: warn)", {
            "mcp_gateway.server": route,
            "gen_ai.tool.name": e.tool,
            "mcp_gateway.pin.hash": e.previousHash,
            "mcp_gateway.pin.served_hash": e.hash,
          });
        }
      }
      const pin = o.store.pinned(route, known.definition.name);
      // enforce serves pinned definitions only: a changed one, or one that could not be pinned (store full).
      const hide = m === "enforce" && (pin === undefined || pin.hash !== known.hash);
      if (hide) kept ??= list.slice(0, i);
      else kept?.push(list[i]);
    }
    if (!kept) return msg;
    return { ...msg, raw: { ...msg.raw, result: { ...result, tools: kept } } };
  }

  return {
    name: "pins",
    stage: "pins",
    lookup(route, tool) {
      const current = o.catalog.current(route, tool);
      if (current) return current;
      const pin = o.store.pinned(route, tool);
      return pin ? { hash: pin.hash, definition: pin.definition } : undefined;
    },
    onMessage(ex, msg) {
      if (msg.method !== "tools/call" || msg.kind !== "request" || msg.target === undefined) return undefined;
      if (mode(ex.server) !== "enforce") return undefined;
      const current = o.catalog.current(ex.server, msg.target);
      if (!current) {
        if (!unusable.has(`${ex.server}\u0000${msg.target}`)) return undefined;
        return {
          error: new GatewayError("TOOL_DEFINITION_CHANGED", "the tool's definition cannot be pinned").withData({ tool: msg.target }),
        };
      }
      const pin = o.store.pinned(ex.server, msg.target);
      if (pin?.hash === current.hash) return undefined;
      const detail = pin
        ? `tool "${msg.target.slice(0, 64)}"`
        : `tool "${msg.target.slice(0, 64)}" could not be pinned (the route holds the most pins allowed)`;
      return {
        error: new GatewayError("TOOL_DEFINITION_CHANGED", detail).withData({
          tool: msg.target,
          ...(pin ? { pinned: pin.hash } : {}),
          served: current.hash,
        }),
      };
    },
    onUpstreamMessage(ex, msg, request) {
      if (msg.kind !== "response" || request?.method !== "tools/list") return msg;
      // A tool with no pin here may have been pinned by another replica or the CLI (shared store): read the
      // store first, so a first sight here never pins a definition that another writer saw differently.
      if (o.store.kind !== "memory" && mode(ex.server) !== "off" && hasUnpinned(ex.server, msg)) {
        return o.store.sync().then(() => listed(ex, msg));
      }
      return listed(ex, msg);
    },
  };
}
