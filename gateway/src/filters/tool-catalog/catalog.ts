// The tool definitions a gateway has seen per route (learned from tools/list results) and the
// definition hash that pins and validators are keyed by. Shared by the pins and validation stages.

import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";

/**
 * The parts of an MCP Tool (schema.ts `Tool`) that define what the tool is and does, and so are pinned:
 * a backend that changes any of them has changed the tool. `_meta` and `icons` are presentation.
 */
export const PINNED_FIELDS = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] as const;

export type ToolDefinition = Partial<Record<(typeof PINNED_FIELDS)[number], unknown>> & { name: string };

export interface KnownTool {
  /** "sha256:" + hex of the canonical JSON of the definition. */
  readonly hash: string;
  readonly definition: ToolDefinition;
}

/** Deepest nesting the canonical form accepts (a schema deeper than this is not a definition we hash). */
const MAX_CANONICAL_DEPTH = 128;

/** JSON with object keys sorted at every level, so equal definitions hash equally whatever their key order. */
export function canonicalJson(v: unknown, depth = 0): string {
  if (depth > MAX_CANONICAL_DEPTH) throw new Error("tool definition is nested too deeply");
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x, depth + 1)).join(",")}]`;
  const keys = Object.keys(v).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(x, depth + 1)}`);
  }
  return `{${parts.join(",")}}`;
}

/** The pinned fields of a tools/list entry, or undefined when the entry has no usable name. */
export function definitionOf(entry: unknown): ToolDefinition | undefined {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return undefined;
  const e = entry as Record<string, unknown>;
  if (typeof e.name !== "string" || e.name === "") return undefined;
  const def: ToolDefinition = { name: e.name };
  for (const f of PINNED_FIELDS) if (f !== "name" && e[f] !== undefined) def[f] = e[f];
  return def;
}

export function definitionHash(def: ToolDefinition): string {
  return `sha256:${createHash("sha256").update(canonicalJson(def)).digest("hex")}`;
}

export interface ToolCatalogOptions {
  /** Most (route, tool) definitions remembered (default 10 000). */
  max?: number;
  /** Most characters of definitions remembered in total (default 64 MiB). */
  maxChars?: number;
}

/** Last definition served per (route, tool). Bounded; a forgotten tool is simply "not seen". */
export class ToolCatalog {
  readonly #seen: LRUCache<string, KnownTool>;

  constructor(opts: ToolCatalogOptions = {}) {
    this.#seen = new LRUCache<string, KnownTool>({
      max: opts.max ?? 10_000,
      maxSize: opts.maxChars ?? 64 * 1024 * 1024,
      sizeCalculation: (v) => Math.max(1, v.hash.length + JSON.stringify(v.definition).length),
    });
  }

  /** Remember the definition a backend serves now; returns it with its hash (undefined for an unusable entry). */
  learn(route: string, entry: unknown): KnownTool | undefined {
    const definition = definitionOf(entry);
    if (!definition) return undefined;
    let hash: string;
    try {
      hash = definitionHash(definition);
    } catch {
      // Nested beyond the canonical form's bound: still a definition, hashed as served (key order then counts).
      try {
        hash = `sha256-raw:${createHash("sha256").update(JSON.stringify(definition)).digest("hex")}`;
      } catch {
        return undefined;
      }
    }
    const key = `${route}\u0000${definition.name}`;
    const had = this.#seen.get(key);
    if (had?.hash === hash) return had;
    const known: KnownTool = { hash, definition };
    this.#seen.set(key, known);
    return known;
  }

  current(route: string, tool: string): KnownTool | undefined {
    return this.#seen.get(`${route}\u0000${tool}`);
  }
}
