// The pin book: which tool definition (hash) is pinned per route, which changed definitions wait for
// approval, and the history of both. Pure operations on plain JSON, shared by every store and the CLI.

import type { KnownTool, ToolDefinition } from "../tool-catalog/catalog.ts";

export interface PinRecord {
  hash: string;
  definition: ToolDefinition;
  /** RFC 3339. */
  pinnedAt: string;
  /** Who approved this definition (absent for a first-sight pin). */
  approvedBy?: string;
}

export interface PendingChange {
  /** The definition the backend serves now, different from the pin. */
  hash: string;
  definition: ToolDefinition;
  /** The pin it differs from. */
  pinnedHash: string;
  seenAt: string;
}

export type PinEventType = "pinned" | "changed" | "approved";

export interface PinEvent {
  /** Increases by one per event of a store: a reader knows which events it has not seen yet. */
  seq: number;
  at: string;
  type: PinEventType;
  route: string;
  tool: string;
  hash: string;
  previousHash?: string;
  by?: string;
  /** Which writer recorded it (a gateway instance id, or "cli"). */
  origin: string;
}

export interface PinState {
  version: 1;
  seq: number;
  pins: Record<string, Record<string, PinRecord>>;
  pending: Record<string, Record<string, PendingChange>>;
  history: PinEvent[];
}

/** Events kept in a store's history (the audit log keeps them all). */
export const MAX_HISTORY = 1000;
/** Tools pinned per route at most: a backend that lists more cannot grow the store without bound (the rest stay unpinned). */
export const MAX_PINS_PER_ROUTE = 10_000;

export function emptyState(): PinState {
  return { version: 1, seq: 0, pins: {}, pending: {}, history: [] };
}

export class PinStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PinStateError";
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Check the shape of a state read from a file or Redis; throws PinStateError naming what is wrong. */
export function parseState(v: unknown, where: string): PinState {
  if (!isObj(v) || v.version !== 1) throw new PinStateError(`${where}: not a pin file (expected {"version": 1, …})`);
  const s = emptyState();
  s.seq = typeof v.seq === "number" && Number.isInteger(v.seq) && v.seq >= 0 ? v.seq : 0;
  for (const key of ["pins", "pending"] as const) {
    const routes = v[key] ?? {};
    if (!isObj(routes)) throw new PinStateError(`${where}: "${key}" must be an object`);
    for (const [route, tools] of Object.entries(routes)) {
      if (!isObj(tools)) throw new PinStateError(`${where}: ${key}.${route} must be an object`);
      for (const [tool, rec] of Object.entries(tools)) {
        if (!isObj(rec) || typeof rec.hash !== "string" || !isObj(rec.definition)) {
          throw new PinStateError(`${where}: ${key}.${route}.${tool} needs "hash" and "definition"`);
        }
      }
    }
    s[key] = routes as never;
  }
  if (v.history !== undefined && !Array.isArray(v.history)) throw new PinStateError(`${where}: "history" must be an array`);
  s.history = (v.history as PinEvent[] | undefined) ?? [];
  return s;
}

function routeOf<T>(m: Record<string, Record<string, T>>, route: string): Record<string, T> {
  let r = m[route];
  if (!r) {
    r = {};
    m[route] = r;
  }
  return r;
}

function record(s: PinState, e: Omit<PinEvent, "seq">): PinEvent {
  const ev = { ...e, seq: ++s.seq };
  s.history.push(ev);
  if (s.history.length > MAX_HISTORY) s.history.splice(0, s.history.length - MAX_HISTORY);
  return ev;
}

/**
 * The backend serves `known` for (route, tool): pin it on first sight; when it differs from the pin,
 * record it as a pending change (once per distinct definition). Returns the events it caused.
 */
export function observe(s: PinState, route: string, known: KnownTool, origin: string, now: string): PinEvent[] {
  const tool = known.definition.name;
  const pin = s.pins[route]?.[tool];
  if (!pin) {
    const pins = routeOf(s.pins, route);
    if (Object.keys(pins).length >= MAX_PINS_PER_ROUTE) return [];
    pins[tool] = { hash: known.hash, definition: known.definition, pinnedAt: now };
    return [record(s, { at: now, type: "pinned", route, tool, hash: known.hash, origin })];
  }
  const pending = s.pending[route];
  if (pin.hash === known.hash) {
    // Served as pinned again (the backend reverted): nothing waits for approval any more.
    if (pending?.[tool]) delete pending[tool];
    return [];
  }
  if (pending?.[tool]?.hash === known.hash) return [];
  routeOf(s.pending, route)[tool] = { hash: known.hash, definition: known.definition, pinnedHash: pin.hash, seenAt: now };
  return [record(s, { at: now, type: "changed", route, tool, hash: known.hash, previousHash: pin.hash, origin })];
}

/**
 * Accept the pending change of (route, tool): it becomes the pin. `hash` (a prefix is enough) must
 * name the pending definition, so an operator never approves a definition they have not reviewed.
 */
export function approve(
  s: PinState,
  route: string,
  tool: string,
  hash: string | undefined,
  by: string,
  origin: string,
  now: string,
): PinEvent {
  const p = s.pending[route]?.[tool];
  if (!p) throw new PinStateError(`no pending change for tool "${tool}" on route "${route}"`);
  if (hash !== undefined && !p.hash.startsWith(hash) && !p.hash.startsWith(`sha256:${hash}`)) {
    throw new PinStateError(`the pending change of "${tool}" on "${route}" is ${p.hash}, not ${hash}`);
  }
  const previous = s.pins[route]?.[tool]?.hash;
  routeOf(s.pins, route)[tool] = { hash: p.hash, definition: p.definition, pinnedAt: now, approvedBy: by };
  delete s.pending[route]![tool];
  return record(s, { at: now, type: "approved", route, tool, hash: p.hash, ...(previous ? { previousHash: previous } : {}), by, origin });
}
