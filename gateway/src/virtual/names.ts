// Names of a virtual server's tools and prompts: each member's name prefixed with the member's, kept within
// MCP's 64-character limit by a deterministic, collision-free shortening, and mapped back for calls.

import { createHash } from "node:crypto";

/** MCP's limit on a tool name (SEP-986), applied to prompts too. */
export const MAX_NAME = 64;

export interface Origin {
  readonly member: string;
  readonly name: string;
}

function digest(s: string, chars: number): string {
  return createHash("sha256").update(s).digest("hex").slice(0, chars);
}

/**
 * The exposed name of `name` on `member`: `member + separator + name` when it fits, else its first
 * characters, "_" and a hash of the whole (8 hex, longer only when `taken` already holds that name).
 */
export function exposedName(member: string, separator: string, name: string, taken?: (n: string) => boolean): string {
  const full = `${member}${separator}${name}`;
  if (full.length <= MAX_NAME && !taken?.(full)) return full;
  for (let chars = 8; chars <= 64; chars += 4) {
    const tail = `_${digest(full, chars)}`;
    const n = `${full.slice(0, MAX_NAME - tail.length)}${tail}`;
    if (!taken?.(n)) return n;
  }
  // 64 hex digits of SHA-256 collide only for the same input, which `taken` cannot hold twice.
  throw new Error(`no collision-free name for ${JSON.stringify(full)}`);
}

/** Exposed name ⇄ member and name, for one kind (tools or prompts) of one virtual session. */
export class NameMap {
  readonly #separator: string;
  readonly #members: readonly string[];
  readonly #byExposed = new Map<string, Origin>();
  readonly #byOrigin = new Map<string, string>();

  constructor(members: readonly string[], separator: string) {
    this.#members = members;
    this.#separator = separator;
  }

  /**
   * Replace the names of `member` (a fresh list from it). Names are given out in member order, then name
   * order, so the same lists always give the same exposed names.
   */
  replace(member: string, names: readonly string[]): void {
    for (const [exposed, o] of this.#byExposed) {
      if (o.member === member) {
        this.#byExposed.delete(exposed);
        this.#byOrigin.delete(`${o.member}\n${o.name}`);
      }
    }
    for (const name of [...names].sort()) {
      const key = `${member}\n${name}`;
      if (this.#byOrigin.has(key)) continue;
      const exposed = exposedName(member, this.#separator, name, (n) => this.#byExposed.has(n));
      this.#byExposed.set(exposed, { member, name });
      this.#byOrigin.set(key, exposed);
    }
  }

  exposed(member: string, name: string): string | undefined {
    return this.#byOrigin.get(`${member}\n${name}`);
  }

  /**
   * The member and name behind `exposed`: from the lists seen, else from its prefix when it was not shortened
   * (a client may call a tool it has not listed; the member's own authorization decides).
   */
  origin(exposed: string): Origin | undefined {
    const seen = this.#byExposed.get(exposed);
    if (seen) return seen;
    for (const member of this.#members) {
      const p = `${member}${this.#separator}`;
      if (exposed.startsWith(p) && exposed.length > p.length) {
        const name = exposed.slice(p.length);
        // A shortened name is never parsed: it is known only from a list.
        if (exposedName(member, this.#separator, name) === exposed) return { member, name };
      }
    }
    return undefined;
  }
}
