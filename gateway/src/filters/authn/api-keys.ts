// API keys for machine clients: stored as SHA-256 hex in config, several active per subject (rotation),
// looked up with one hash per request (no per-request key derivation: ARCHITECTURE.md invariant 7).

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Principal } from "../../chain/types.ts";
import type { ApiKeyConfig } from "../../config/schema-authn.ts";
import { Secret } from "../../config/secret.ts";
import { freezePrincipal } from "./claims.ts";

export function sha256(data: string): Buffer {
  return createHash("sha256").update(data).digest();
}

/** The value to put in config (`sha256:`) for a key. */
export function hashApiKey(key: string): string {
  return sha256(key).toString("hex");
}

/** A new random key (256 bits). The prefix makes leaked keys easy to find with secret scanners. */
export function generateApiKey(prefix = "mgw_"): Secret {
  return new Secret(prefix + randomBytes(32).toString("base64url"));
}

interface Entry {
  readonly id: string;
  readonly hash: Buffer;
  readonly notAfter: number;
  readonly principal: Principal;
}

/**
 * A key as the store takes it. `amr` is not part of the config schema (which is strict, so a
 * configured key can never claim MFA); only dev mode sets it, on a loopback-only gateway (dev-mode.ts).
 */
export type ApiKeyEntry = ApiKeyConfig & { readonly amr?: readonly string[] };

export type ApiKeyResult = { principal: Principal; id: string } | { expired: string } | undefined;

export class ApiKeyStore {
  readonly #byHash = new Map<string, Entry>();

  constructor(keys: readonly ApiKeyEntry[], issuer: string) {
    for (const k of keys) {
      const principal = freezePrincipal({
        sub: k.subject,
        iss: issuer,
        clientId: k.id,
        groups: [...k.groups],
        scopes: [...k.scopes],
        amr: [...(k.amr ?? [])],
        claims: { sub: k.subject, api_key_id: k.id },
        ...(k.tenant ? { tenant: k.tenant } : {}),
      });
      this.#byHash.set(k.sha256, {
        id: k.id,
        hash: Buffer.from(k.sha256, "hex"),
        notAfter: k.notAfter ? Date.parse(k.notAfter) : Number.POSITIVE_INFINITY,
        principal,
      });
    }
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** `digest` is sha256(presented key); `hex` its hex form (computed once by the caller). */
  lookup(digest: Buffer, hex: string, now = Date.now()): ApiKeyResult {
    const e = this.#byHash.get(hex);
    // The map lookup already matched; the constant-time compare keeps the final decision free of
    // early-exit timing on the stored value (defence in depth; the hash itself is not secret-bearing).
    if (!e || !timingSafeEqual(e.hash, digest)) return undefined;
    if (now >= e.notAfter) return { expired: e.id };
    return { principal: e.principal, id: e.id };
  }
}
