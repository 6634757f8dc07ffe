// Per-issuer runtime state: metadata discovered once (OIDC Discovery §4 / RFC 8414 §3), and the JWKS
// cache (refreshed in the background, refetched on an unknown kid at most once per cooldown).

import { importJWK, type JWK } from "jose";
import type { IssuerConfig } from "../../config/schema-authn.ts";
import { assertFetchableUrl, type FetchPolicy, fetchJson, type GuardedFetch } from "./ssrf.ts";

export interface AuthnLog {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  userinfo_endpoint?: string;
  [k: string]: unknown;
}

/** The IdP could not be reached (or answered garbage): the caller must be refused with 503, never allowed. */
export class IdpUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IdpUnavailableError";
  }
}

export type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

// Which JWK may verify which JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1). Never an HMAC algorithm:
// JWKS keys are public keys, and using one as an HMAC secret is the RS/HS confusion attack.
function keyFits(jwk: JWK, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes("verify")) return false;
  if (alg.startsWith("RS") || alg.startsWith("PS")) return jwk.kty === "RSA";
  if (alg === "ES256") return jwk.kty === "EC" && jwk.crv === "P-256";
  if (alg === "ES384") return jwk.kty === "EC" && jwk.crv === "P-384";
  if (alg === "ES512") return jwk.kty === "EC" && jwk.crv === "P-521";
  if (alg === "EdDSA" || alg === "Ed25519") return jwk.kty === "OKP" && jwk.crv === "Ed25519";
  return false;
}

function wellKnownUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname === "/" ? "" : u.pathname.replace(/\/$/, "");
  return [
    // OIDC Discovery §4: appended to the issuer.
    `${u.origin}${path}/.well-known/openid-configuration`,
    // RFC 8414 §3.1: inserted between host and path.
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

export interface IssuerKeysOptions {
  config: IssuerConfig;
  fetch: GuardedFetch;
  policy: FetchPolicy;
  cooldownMs: number;
  maxAgeMs: number;
  log: AuthnLog;
  now?: () => number;
}

export class IssuerRuntime {
  readonly config: IssuerConfig;
  readonly #fetch: GuardedFetch;
  readonly #policy: FetchPolicy;
  readonly #log: AuthnLog;
  readonly #cooldownMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  #metadata: IssuerMetadata | undefined;
  #metadataInflight: Promise<IssuerMetadata> | undefined;
  #metadataFailedAt = Number.NEGATIVE_INFINITY;

  #jwks = new Map<string, JWK>();
  /** Keys without kid, tried when the token has no kid. */
  #anonymous: JWK[] = [];
  #imported = new Map<string, VerifyKey>();
  #loadedAt = Number.NEGATIVE_INFINITY;
  #attemptAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<boolean> | undefined;
  /** Number of JWKS fetches attempted (tests, diagnostics). */
  fetches = 0;

  constructor(o: IssuerKeysOptions) {
    this.config = o.config;
    this.#fetch = o.fetch;
    this.#policy = o.policy;
    this.#log = o.log;
    this.#cooldownMs = o.cooldownMs;
    this.#maxAgeMs = o.maxAgeMs;
    this.#now = o.now ?? Date.now;
  }

  /** Metadata, discovered once. Failures are retried at most every 2 s so a dead IdP is not hammered. */
  metadata(): Promise<IssuerMetadata> {
    if (this.#metadata) return Promise.resolve(this.#metadata);
    if (this.#metadataInflight) return this.#metadataInflight;
    if (this.#now() - this.#metadataFailedAt < 2000) {
      return Promise.reject(new IdpUnavailableError(`metadata of ${this.config.issuer} unavailable (recent failure)`));
    }
    this.#metadataInflight = this.#discover().then(
      (m) => {
        this.#metadata = m;
        this.#metadataInflight = undefined;
        return m;
      },
      (e: unknown) => {
        this.#metadataFailedAt = this.#now();
        this.#metadataInflight = undefined;
        this.#log.warn("authn: issuer metadata discovery failed", {
          "authn.issuer": this.config.issuer,
          "error.message": (e as Error).message,
        });
        throw new IdpUnavailableError(`metadata of ${this.config.issuer} unavailable`, { cause: e });
      },
    );
    return this.#metadataInflight;
  }

  async #discover(): Promise<IssuerMetadata> {
    const urls = this.config.metadataUrl ? [this.config.metadataUrl] : wellKnownUrls(this.config.issuer);
    let last: unknown;
    for (const u of urls) {
      try {
        const doc = await fetchJson(this.#fetch, u);
        // RFC 8414 §3.3 / OIDC Discovery §4.3: the document must name exactly this issuer (mix-up defence).
        if (doc.issuer !== this.config.issuer) throw new Error(`metadata at ${u} names issuer ${String(doc.issuer)}`);
        for (const k of ["jwks_uri", "introspection_endpoint", "userinfo_endpoint"] as const) {
          const v = doc[k];
          if (v !== undefined) {
            if (typeof v !== "string") throw new Error(`metadata ${k} is not a string`);
            assertFetchableUrl(v, this.#policy, k);
          }
        }
        return doc as IssuerMetadata;
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  async #jwksUri(): Promise<string> {
    if (this.config.jwksUri) return this.config.jwksUri;
    const m = await this.metadata();
    if (!m.jwks_uri) throw new IdpUnavailableError(`issuer ${this.config.issuer} publishes no jwks_uri`);
    return m.jwks_uri;
  }

  /** Fetch the JWKS; on failure keep the keys we have. Resolves true when the key set was replaced. */
  refresh(): Promise<boolean> {
    if (this.#inflight) return this.#inflight;
    this.#attemptAt = this.#now();
    this.fetches++;
    this.#inflight = (async () => {
      try {
        const doc = await fetchJson(this.#fetch, await this.#jwksUri());
        if (!Array.isArray(doc.keys)) throw new Error("JWKS has no keys array");
        const byKid = new Map<string, JWK>();
        const anonymous: JWK[] = [];
        for (const k of doc.keys as JWK[]) {
          if (!k || typeof k !== "object" || typeof k.kty !== "string" || k.kty === "oct") continue;
          if (typeof k.kid === "string") byKid.set(k.kid, k);
          else anonymous.push(k);
        }
        this.#jwks = byKid;
        this.#anonymous = anonymous;
        this.#imported.clear();
        this.#loadedAt = this.#now();
        return true;
      } catch (e) {
        this.#log.warn("authn: JWKS fetch failed; keeping cached keys", {
          "authn.issuer": this.config.issuer,
          "authn.cached_keys": this.#jwks.size + this.#anonymous.length,
          "error.message": (e as Error).message,
        });
        if (this.#loadedAt === Number.NEGATIVE_INFINITY) {
          throw new IdpUnavailableError(`JWKS of ${this.config.issuer} unavailable`, { cause: e });
        }
        return false;
      } finally {
        this.#inflight = undefined;
      }
    })();
    return this.#inflight;
  }

  /** Cached key for (kid, alg), synchronously, or undefined. Triggers a background refresh when stale. */
  cachedKey(kid: string | undefined, alg: string): VerifyKey | undefined {
    const cacheKey = `${kid ?? ""}\u0000${alg}`;
    const k = this.#imported.get(cacheKey);
    if (k && this.#now() - this.#loadedAt > this.#maxAgeMs && this.#now() - this.#attemptAt > this.#cooldownMs) {
      this.refresh().catch(() => {});
    }
    return k;
  }

  /**
   * The verification key for (kid, alg). An unknown kid triggers one refetch, at most once per
   * cooldown (an attacker sending random kids cannot make us hammer the IdP). undefined = no such key.
   */
  async key(kid: string | undefined, alg: string): Promise<VerifyKey | undefined> {
    const cached = this.cachedKey(kid, alg);
    if (cached) return cached;
    if (this.#loadedAt === Number.NEGATIVE_INFINITY) {
      // First use: fetch (cooldown does not apply to a cache that never loaded).
      if (this.#now() - this.#attemptAt < 1000 && !this.#inflight) {
        throw new IdpUnavailableError(`JWKS of ${this.config.issuer} unavailable (recent failure)`);
      }
      await this.refresh();
    }
    let jwk = this.#find(kid, alg);
    if (!jwk && this.#now() - this.#attemptAt >= this.#cooldownMs) {
      const replaced = await this.refresh();
      jwk = this.#find(kid, alg);
      if (!jwk) {
        this.#log.warn(
          replaced ? "authn: token signed with a key the issuer does not publish" : "authn: unknown kid and JWKS refetch failed",
          {
            "authn.issuer": this.config.issuer,
            "authn.kid": kid ?? null,
          },
        );
      }
    }
    if (!jwk) return undefined;
    const imported = await importJWK(jwk, alg);
    this.#imported.set(`${kid ?? ""}\u0000${alg}`, imported);
    return imported;
  }

  #find(kid: string | undefined, alg: string): JWK | undefined {
    if (kid !== undefined) {
      const k = this.#jwks.get(kid);
      return k && keyFits(k, alg) ? k : undefined;
    }
    // No kid: only unambiguous when exactly one published key fits the algorithm.
    const fits = [...this.#jwks.values(), ...this.#anonymous].filter((k) => keyFits(k, alg));
    return fits.length === 1 ? fits[0] : undefined;
  }

  get cachedKeyCount(): number {
    return this.#jwks.size + this.#anonymous.length;
  }
}
