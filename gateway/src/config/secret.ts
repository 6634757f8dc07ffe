// A value that must never be printed: toString/toJSON/inspect all redact. Read it with reveal().

import { inspect } from "node:util";
import { z } from "zod";

const REDACTED = "[REDACTED]";

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
  get [Symbol.toStringTag](): string {
    return "Secret";
  }
}

export function isSecret(v: unknown): v is Secret {
  return v instanceof Secret;
}

/** Plain string of a value that may be a Secret (for fields that are not secret, e.g. a URL from ${env:…}). */
export function plain(v: unknown): unknown {
  return v instanceof Secret ? v.reveal() : v;
}

/** Zod schema of a secret field: a literal string or a ${…} reference, always held as a Secret. */
export const secret = () =>
  z
    .union([z.string(), z.instanceof(Secret)])
    .transform((v) => (v instanceof Secret ? v : new Secret(v)))
    .meta({ description: "Secret value; use ${env:NAME}, ${file:path} or ${vault:path#key} rather than a literal" });
