// A value that must never be printed: toString/toJSON/inspect all redact. Read it with reveal().

import { inspect } from "node:util";

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
