// Which action (read | write | execute) a tool call is: per-server config first, else the tool's MCP
// annotations (remembered from tools/list results, since tools/call carries none), else a default.
// Annotations: MCP spec, server/tools "Tool annotations" (readOnlyHint, destructiveHint).

import { LRUCache } from "lru-cache";
import type { AuthzAction } from "./types.ts";

/** Per-server authorization settings (config: servers.<name>.authz). */
export interface ServerAuthzSettings {
  /** tool name → action; wins over annotations. */
  actions?: Record<string, AuthzAction> | undefined;
  /** Action of a tool that is neither configured nor seen in a tools/list. Default "execute" (the strictest). */
  defaultAction?: AuthzAction | undefined;
  /** Use the backend's annotations (default true). Annotations are hints from the backend: set false for untrusted backends. */
  trustAnnotations?: boolean | undefined;
}

/** readOnlyHint → read; destructiveHint → write; otherwise execute (readOnly wins: spec says destructiveHint only matters when readOnlyHint is false). */
export function actionFromAnnotations(annotations: unknown): AuthzAction | undefined {
  if (typeof annotations !== "object" || annotations === null) return undefined;
  const a = annotations as { readOnlyHint?: unknown; destructiveHint?: unknown };
  if (a.readOnlyHint === true) return "read";
  if (a.destructiveHint === true) return "write";
  return "execute";
}

export class ActionResolver {
  readonly #servers: Readonly<Record<string, ServerAuthzSettings | undefined>>;
  /** `${server}\u0000${tool}` → action derived from annotations. */
  readonly #seen: LRUCache<string, AuthzAction>;

  constructor(servers: Readonly<Record<string, ServerAuthzSettings | undefined>> = {}, maxRemembered = 10_000) {
    this.#servers = servers;
    this.#seen = new LRUCache({ max: maxRemembered });
  }

  /** The action used for both tools/call and the tools/list item of `tool` on `server`. */
  resolve(server: string, tool: string): AuthzAction {
    const s = this.#servers[server];
    const configured = s?.actions?.[tool];
    if (configured) return configured;
    if (s?.trustAnnotations !== false) {
      const seen = this.#seen.get(`${server}\u0000${tool}`);
      if (seen) return seen;
    }
    return s?.defaultAction ?? "execute";
  }

  /** Remember a tool's annotations from a tools/list result, then resolve its action. */
  learn(server: string, tool: string, annotations: unknown): AuthzAction {
    const s = this.#servers[server];
    if (!s?.actions?.[tool] && s?.trustAnnotations !== false) {
      const a = actionFromAnnotations(annotations);
      const k = `${server}\u0000${tool}`;
      if (a) this.#seen.set(k, a);
      // No annotations at all: forget any earlier ones so the default applies again.
      else this.#seen.delete(k);
    }
    return this.resolve(server, tool);
  }
}
