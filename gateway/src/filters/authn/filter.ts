// The authn stage: Authorization header → verified Principal (JWT via JWKS, opaque token via
// introspection/userinfo, API key), or a local reply with the challenge the MCP authorization spec asks for.

import { createSecretKey, type KeyObject } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import type { Exchange, Filter, LocalReply, Principal, Verdict } from "../../chain/types.ts";
import type { ApiKeyConfig, AuthConfig, RouteAuthConfig } from "../../config/schema-authn.ts";
import { channels, STAGE_ATTRIBUTES } from "../../diagnostics.ts";
import { type ErrorCode, GatewayError } from "../../errors.ts";
import { traceFields } from "../../log/message-facts.ts";
import { ApiKeyStore, sha256 } from "./api-keys.ts";
import { bearerChallenge, type ChallengeParams } from "./challenge.ts";
import { type ClaimsMapper, compileClaimsMapping, freezePrincipal } from "./claims.ts";
import { type AuthnLog, IdpUnavailableError, IssuerRuntime, type VerifyKey } from "./issuer-keys.ts";
import { OpaqueTokenVerifier } from "./opaque.ts";
import { prmUrl, resourceUrl } from "./prm.ts";
import { assertFetchableUrl, createGuardedFetch, type FetchPolicy, type GuardedFetch } from "./ssrf.ts";

/** How the caller was authenticated; stored in `ex.vars` under AUTHN_RESULT for audit and telemetry. */
export interface AuthnResult {
  readonly method: "jwt" | "api-key" | "introspection" | "userinfo";
  /** Answered from the verified-token / introspection cache. */
  readonly cached: boolean;
  readonly issuer: string;
  /** API key id, when method is api-key. */
  readonly keyId?: string;
}
export const AUTHN_RESULT: unique symbol = Symbol("mcp-gateway.authn.result");

/** The listener should add `url` (path + query) to Exchange; until then the query check needs it here. */
type ExchangeWithUrl = Exchange & { readonly url?: string };

export interface AuthnFilterOptions {
  auth: AuthConfig;
  /** Canonical public URL of the gateway (config.publicBaseUrl); resource URLs derive from it. */
  publicBaseUrl: string;
  /** Keys from prepareDevMode(). */
  extraApiKeys?: readonly ApiKeyConfig[];
  log?: AuthnLog;
  /** Test hook: replaces the guarded fetch (the SSRF policy still applies to configured URLs). */
  fetch?: GuardedFetch;
}

export interface AuthnFilter extends Filter {
  /** Discover metadata and load JWKS of every issuer now (startup); failures are logged, never thrown. */
  warmUp(): Promise<{ issuer: string; ok: boolean; error?: string }[]>;
  /** Runtime of an issuer (JWKS fetch counter, cached keys) for tests and diagnostics. */
  issuer(iss: string): IssuerRuntime | undefined;
  close(): Promise<void>;
}

const silent: AuthnLog = { debug() {}, info() {}, warn() {}, error() {} };

// RFC 6750 §2.1 b64token.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_LENGTH = 16 * 1024;

interface IssuerState {
  readonly rt: IssuerRuntime;
  readonly map: ClaimsMapper;
  readonly algorithms: ReadonlySet<string>;
  readonly hmacKey: KeyObject | undefined;
  readonly skew: number;
  readonly opaque: OpaqueTokenVerifier | undefined;
}

interface RouteCtx {
  readonly name: string;
  readonly prm: string;
  readonly requiredScopes: readonly string[];
  readonly challengeScope: string | undefined;
  readonly mfa: RouteAuthConfig["mfa"];
  readonly allowedIssuers: ReadonlySet<string> | undefined;
  readonly apiKeys: boolean;
  /** Accepted aud values per issuer (resource URL, or the issuer's `audiences` override). */
  readonly audiences: ReadonlyMap<string, readonly string[]>;
  readonly opaque: readonly IssuerState[];
  readonly missing: LocalReply;
}

interface TokenEntry {
  readonly principal: Principal;
  readonly iss: string;
  readonly aud: readonly string[] | undefined;
  /** Cache expiry, ms since the epoch (never beyond the token's exp + skew). */
  readonly until: number;
  readonly result: AuthnResult;
}

function reply(code: ErrorCode, challenge: ChallengeParams | undefined, detail?: string, extra?: Record<string, string>): LocalReply {
  const headers: Record<string, string> = { ...extra };
  if (challenge) headers["www-authenticate"] = bearerChallenge(challenge);
  return { error: new GatewayError(code, detail), headers };
}

function joseReason(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return "token expired";
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "nbf") return "token not yet valid (nbf)";
    if (e.claim === "iss") return "token issuer is not trusted";
    if (e.claim === "aud") return "token audience is not this resource";
    if (e.claim === "exp") return "token has no valid exp";
    if (e.claim === "iat") return "token iat is invalid";
    return `token claim ${e.claim} invalid`;
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return "token signature invalid";
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return "token algorithm not allowed";
  if (e instanceof joseErrors.JOSENotSupported) return "token uses an unsupported algorithm or key";
  return "token is malformed";
}

export function createAuthnFilter(o: AuthnFilterOptions): AuthnFilter {
  const { auth } = o;
  const log = o.log ?? silent;
  const base = new URL(o.publicBaseUrl).toString();
  const policy: FetchPolicy = {
    allowInsecureLoopback: auth.allowInsecureLoopback,
    allowPrivateNetworks: auth.allowPrivateNetworks,
    timeoutMs: auth.fetchTimeoutMs,
  };
  const guarded = createGuardedFetch(policy);
  const fetchFn = o.fetch ?? guarded;

  const issuers = new Map<string, IssuerState>();
  for (const cfg of auth.issuers) {
    // Throw early (config time) for URLs the SSRF policy refuses.
    for (const u of [cfg.issuer, cfg.metadataUrl, cfg.jwksUri, cfg.introspection?.endpoint, cfg.userinfo?.endpoint]) {
      if (u) assertFetchableUrl(u, policy, `auth issuer ${cfg.issuer}`);
    }
    if (issuers.has(cfg.issuer)) throw new Error(`auth.issuers: ${cfg.issuer} is listed twice`);
    const rt = new IssuerRuntime({
      config: cfg,
      fetch: fetchFn,
      policy,
      cooldownMs: auth.jwks.cooldownSeconds * 1000,
      maxAgeMs: auth.jwks.maxAgeSeconds * 1000,
      log,
    });
    const algorithms = new Set<string>(cfg.algorithms.filter((a) => !a.startsWith("HS") || cfg.hmacSecret));
    issuers.set(cfg.issuer, {
      rt,
      map: compileClaimsMapping(cfg.claims),
      algorithms,
      hmacKey: cfg.hmacSecret ? createSecretKey(Buffer.from(cfg.hmacSecret.reveal(), "utf8")) : undefined,
      skew: cfg.clockSkewSeconds,
      opaque: cfg.introspection || cfg.userinfo ? new OpaqueTokenVerifier(rt, fetchFn, log) : undefined,
    });
  }
  for (const [name, r] of Object.entries(auth.routes)) {
    for (const i of r.issuers ?? []) if (!issuers.has(i)) throw new Error(`auth.routes.${name}.issuers: ${i} is not a configured issuer`);
  }

  const singleIssuer = issuers.size === 1 ? [...issuers.keys()][0] : undefined;
  const apiKeys = new ApiKeyStore([...auth.apiKeys, ...(o.extraApiKeys ?? [])], auth.apiKeyIssuer);
  const apiKeyHeader = auth.apiKeyHeader;

  const tokenCache = auth.tokenCacheSize > 0 ? new LRUCache<string, TokenEntry>({ max: auth.tokenCacheSize }) : undefined;
  // Opaque tokens and API-key misses, keyed by the token's SHA-256 hex (the raw token is not kept).
  const opaqueCache = new LRUCache<string, TokenEntry | { inactive: string; until: number }>({ max: Math.max(1, auth.tokenCacheSize) });

  const routes = new Map<string, RouteCtx>();
  function route(name: string): RouteCtx {
    let rc = routes.get(name);
    if (rc) return rc;
    const cfg = auth.routes[name] ?? auth.defaultRoute;
    const resource = resourceUrl(base, name);
    const audiences = new Map<string, string[]>();
    for (const [iss, st] of issuers) {
      const over = st.rt.config.audiences;
      audiences.set(
        iss,
        over ? over.map((a) => a.replaceAll("{server}", name)) : auth.acceptBaseUrlAudience ? [resource, resourceUrl(base)] : [resource],
      );
    }
    const allowedIssuers = cfg.issuers ? new Set(cfg.issuers) : undefined;
    const prm = prmUrl(base, name);
    const challengeScope = cfg.requiredScopes.length ? cfg.requiredScopes.join(" ") : auth.scopesSupported?.join(" ") || undefined;
    rc = {
      name,
      prm,
      requiredScopes: cfg.requiredScopes,
      challengeScope,
      mfa: cfg.mfa,
      allowedIssuers,
      apiKeys: cfg.apiKeys,
      audiences,
      opaque: [...issuers.values()].filter((s) => s.opaque && (!allowedIssuers || allowedIssuers.has(s.rt.config.issuer))),
      // RFC 6750 §3.1: no error code when the request carries no credentials at all.
      missing: reply("UNAUTHENTICATED", { resourceMetadata: prm, ...(challengeScope ? { scope: challengeScope } : {}) }),
    };
    routes.set(name, rc);
    return rc;
  }

  const invalid = (rc: RouteCtx, reason: string): LocalReply => {
    log.debug("authn: credential refused", { "mcp.route": rc.name, "authn.reason": reason });
    return reply(
      "INVALID_TOKEN",
      {
        error: "invalid_token",
        errorDescription: reason,
        resourceMetadata: rc.prm,
        ...(rc.challengeScope ? { scope: rc.challengeScope } : {}),
      },
      reason,
    );
  };
  const malformed = (rc: RouteCtx, reason: string): LocalReply =>
    reply("MALFORMED_AUTHORIZATION", { error: "invalid_request", errorDescription: reason, resourceMetadata: rc.prm }, reason);
  const unavailable = (ex: Exchange, rc: RouteCtx, e: unknown): LocalReply => {
    log.warn("authn: identity provider unavailable; request refused", {
      "mcp.route": rc.name,
      "error.message": (e as Error).message,
      ...traceFields(ex),
    });
    return reply("IDP_UNAVAILABLE", undefined, undefined, { "retry-after": "5" });
  };

  /** Route requirements on an authenticated principal: scopes (403), then MFA (RFC 9470, 401). */
  function admit(ex: Exchange, rc: RouteCtx, entry: TokenEntry): Verdict {
    const p = entry.principal;
    for (const s of rc.requiredScopes) {
      if (!p.scopes.includes(s)) {
        return reply(
          "INSUFFICIENT_SCOPE",
          {
            error: "insufficient_scope",
            scope: rc.requiredScopes.join(" "),
            resourceMetadata: rc.prm,
            errorDescription: `scope ${s} required`,
          },
          `scope ${s} required`,
        );
      }
    }
    if (rc.mfa) {
      const m = rc.mfa;
      const acrOk = p.acr !== undefined && m.acrValues.includes(p.acr);
      const amrOk = m.amr.some((v) => p.amr.includes(v));
      let why: string | undefined = acrOk || amrOk ? undefined : "multi-factor authentication required";
      if (!why && m.maxAgeSeconds !== undefined) {
        const at = p.claims.auth_time;
        if (typeof at !== "number" || Date.now() / 1000 - at > m.maxAgeSeconds) why = "authentication is too old";
      }
      if (why) {
        return reply(
          "MFA_REQUIRED",
          {
            error: "insufficient_user_authentication",
            errorDescription: why,
            ...(m.acrValues.length ? { acrValues: m.acrValues.join(" ") } : {}),
            ...(m.maxAgeSeconds !== undefined ? { maxAge: m.maxAgeSeconds } : {}),
            resourceMetadata: rc.prm,
          },
          why,
        );
      }
    }
    ex.principal = p;
    ex.vars.set(AUTHN_RESULT, entry.result);
    if (channels.stageEnd.hasSubscribers) ex.vars.set(STAGE_ATTRIBUTES, { method: entry.result.method, cache_hit: entry.result.cached });
    return undefined;
  }

  function audienceOk(rc: RouteCtx, iss: string, aud: readonly string[] | undefined): boolean {
    if (aud === undefined) return true;
    const accepted = rc.audiences.get(iss);
    if (!accepted) return false;
    for (const a of aud) if (accepted.includes(a)) return true;
    return false;
  }

  async function verifyJwt(ex: Exchange, rc: RouteCtx, token: string): Promise<Verdict> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let iss: unknown;
    try {
      header = decodeProtectedHeader(token);
      // With one issuer there is nothing to choose: skip the unverified payload parse (jose checks iss).
      iss = singleIssuer ?? decodeJwt(token).iss;
    } catch {
      return invalid(rc, "token is malformed");
    }
    const alg = header.alg;
    // Never `none` (RFC 8725 §3.1), never an algorithm the issuer config does not list (RFC 8725 §3.2).
    if (typeof alg !== "string" || alg.toLowerCase() === "none") return invalid(rc, "unsigned tokens (alg none) are refused");
    const typ = typeof header.typ === "string" ? header.typ.toLowerCase().replace(/^application\//, "") : undefined;
    if (typ !== undefined && typ !== "at+jwt" && typ !== "jwt") return invalid(rc, `token type ${typ} is not an access token`);
    if (typeof iss !== "string") return invalid(rc, "token issuer is not trusted");
    const st = issuers.get(iss);
    if (!st) return invalid(rc, "token issuer is not trusted");
    if (rc.allowedIssuers && !rc.allowedIssuers.has(iss)) return invalid(rc, "token issuer is not accepted for this server");
    if (st.rt.config.requireAtJwt && typ !== "at+jwt") return invalid(rc, "token type must be at+jwt (RFC 9068)");
    if (!st.algorithms.has(alg)) return invalid(rc, `algorithm ${alg} not allowed`);
    let key: VerifyKey | KeyObject | undefined;
    if (alg.startsWith("HS")) {
      key = st.hmacKey;
    } else {
      const kid = typeof header.kid === "string" ? header.kid : undefined;
      try {
        key = st.rt.cachedKey(kid, alg) ?? (await st.rt.key(kid, alg));
      } catch (e) {
        if (e instanceof IdpUnavailableError) return unavailable(ex, rc, e);
        return invalid(rc, "signing key could not be used");
      }
    }
    if (!key) return invalid(rc, "token signed with an unknown key");
    let verified: Awaited<ReturnType<typeof jwtVerify>>["payload"];
    try {
      ({ payload: verified } = await jwtVerify(token, key, {
        issuer: iss,
        audience: rc.audiences.get(iss) as string[],
        algorithms: [alg],
        clockTolerance: st.skew,
        requiredClaims: ["exp"],
      }));
    } catch (e) {
      return invalid(rc, joseReason(e));
    }
    // A sender-constrained token (RFC 9449 DPoP, RFC 8705 mTLS: a `cnf` claim) is only valid with a proof
    // of possession this gateway does not check yet; accepting it as a bearer token would defeat the binding.
    if (verified.cnf !== undefined) return invalid(rc, "sender-constrained tokens (cnf) are not supported");
    const p = st.map(verified as Record<string, unknown>, iss);
    if (typeof p === "string") return invalid(rc, p);
    const aud = typeof verified.aud === "string" ? [verified.aud] : (verified.aud ?? []);
    const entry: TokenEntry = {
      principal: freezePrincipal(p),
      iss,
      aud,
      until: ((verified.exp as number) + st.skew) * 1000,
      result: { method: "jwt", cached: false, issuer: iss },
    };
    tokenCache?.set(token, { ...entry, result: { method: "jwt", cached: true, issuer: iss } });
    return admit(ex, rc, entry);
  }

  async function verifyOpaque(ex: Exchange, rc: RouteCtx, token: string, hex: string): Promise<Verdict> {
    let unavailableErr: unknown;
    let lastReason = "token is not active";
    for (const st of rc.opaque) {
      let r: Awaited<ReturnType<OpaqueTokenVerifier["verify"]>>;
      try {
        r = await st.opaque!.verify(token);
      } catch (e) {
        unavailableErr = e;
        continue;
      }
      const cfg = st.rt.config;
      const cacheSeconds = cfg.introspection ? cfg.introspection.cacheMaxSeconds : (cfg.userinfo?.cacheSeconds ?? 0);
      if (!r.active) {
        lastReason = r.reason;
        continue;
      }
      if (r.via === "introspection" && r.aud === undefined && !cfg.introspection?.allowMissingAudience) {
        lastReason = "introspection response has no aud";
        continue;
      }
      const nowMs = Date.now();
      if (r.exp !== undefined && r.exp * 1000 <= nowMs) {
        lastReason = "token expired";
        continue;
      }
      const p = st.map(r.claims, cfg.issuer);
      if (typeof p === "string") return invalid(rc, p);
      const until = Math.min(nowMs + cacheSeconds * 1000, r.exp !== undefined ? r.exp * 1000 : Number.POSITIVE_INFINITY);
      const entry: TokenEntry = {
        principal: freezePrincipal(p),
        iss: cfg.issuer,
        aud: r.aud,
        until,
        result: { method: r.via, cached: false, issuer: cfg.issuer },
      };
      if (cacheSeconds > 0) opaqueCache.set(hex, { ...entry, result: { ...entry.result, cached: true } });
      if (!audienceOk(rc, cfg.issuer, r.aud)) return invalid(rc, "token audience is not this resource");
      return admit(ex, rc, entry);
    }
    if (unavailableErr) return unavailable(ex, rc, unavailableErr);
    // A short negative cache blunts floods of garbage tokens without pinning a real token as bad for long.
    const negSeconds = Math.min(
      10,
      ...rc.opaque.map((s) => s.rt.config.introspection?.cacheMaxSeconds ?? s.rt.config.userinfo?.cacheSeconds ?? 0),
    );
    if (negSeconds > 0) opaqueCache.set(hex, { inactive: lastReason, until: Date.now() + negSeconds * 1000 });
    return invalid(rc, lastReason);
  }

  function authenticate(ex: Exchange, rc: RouteCtx, token: string, viaApiKeyHeader: boolean): Verdict | Promise<Verdict> {
    // JWS compact serialization: exactly two dots (RFC 7515 §7.1). Five parts would be a JWE: unsupported.
    const d1 = token.indexOf(".");
    const d2 = d1 < 0 ? -1 : token.indexOf(".", d1 + 1);
    if (!viaApiKeyHeader && d1 > 0 && d2 > d1 && token.indexOf(".", d2 + 1) < 0) {
      const hit = tokenCache?.get(token);
      if (hit) {
        if (Date.now() < hit.until && audienceOk(rc, hit.iss, hit.aud) && (!rc.allowedIssuers || rc.allowedIssuers.has(hit.iss))) {
          return admit(ex, rc, hit);
        }
        if (Date.now() >= hit.until) tokenCache?.delete(token);
      }
      return verifyJwt(ex, rc, token);
    }
    const digest = sha256(token);
    const hex = digest.toString("hex");
    const key = apiKeys.size ? apiKeys.lookup(digest, hex) : undefined;
    if (key) {
      if ("expired" in key) return invalid(rc, "API key expired");
      if (!rc.apiKeys) return invalid(rc, "API keys are not accepted for this server");
      return admit(ex, rc, {
        principal: key.principal,
        iss: auth.apiKeyIssuer,
        aud: undefined,
        until: Number.POSITIVE_INFINITY,
        result: { method: "api-key", cached: false, issuer: auth.apiKeyIssuer, keyId: key.id },
      });
    }
    if (viaApiKeyHeader || rc.opaque.length === 0)
      return invalid(rc, viaApiKeyHeader ? "unknown API key" : "unknown API key or unsupported token");
    const hit = opaqueCache.get(hex);
    if (hit && Date.now() < hit.until) {
      if ("inactive" in hit) return invalid(rc, hit.inactive);
      if (audienceOk(rc, hit.iss, hit.aud) && (!rc.allowedIssuers || rc.allowedIssuers.has(hit.iss))) return admit(ex, rc, hit);
    }
    return verifyOpaque(ex, rc, token, hex);
  }

  function onRequest(ex: Exchange): Verdict | Promise<Verdict> {
    const rc = route(ex.server);
    // RFC 6750 §2.3 (URI query parameter) is forbidden by the MCP authorization spec: refuse, do not ignore,
    // so a client leaking tokens into URLs (and thus into proxy logs) finds out at once.
    const url = (ex as ExchangeWithUrl).url;
    if (url !== undefined) {
      const q = url.indexOf("?");
      if (q >= 0 && new URLSearchParams(url.slice(q + 1)).has("access_token")) {
        return reply("TOKEN_IN_QUERY", {
          error: "invalid_request",
          errorDescription: "access_token in the URL is not accepted",
          resourceMetadata: rc.prm,
        });
      }
    }
    const header = ex.headers.authorization;
    if (header === undefined || header === "") {
      if (apiKeyHeader) {
        const k = ex.headers[apiKeyHeader];
        if (typeof k === "string" && k.length > 0) {
          if (k.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(k)) return malformed(rc, `malformed ${apiKeyHeader} header`);
          return authenticate(ex, rc, k, true);
        }
      }
      return rc.missing;
    }
    const sp = header.indexOf(" ");
    const scheme = sp < 0 ? header : header.slice(0, sp);
    if (scheme.toLowerCase() !== "bearer") {
      // Another scheme (Basic, DPoP…): not a credential this resource accepts → the plain challenge (RFC 9110 §11.6.1).
      return rc.missing;
    }
    let start = sp + 1;
    while (sp >= 0 && header.charCodeAt(start) === 32) start++;
    const token = sp < 0 ? "" : header.slice(start);
    if (token.length === 0) return malformed(rc, "Bearer without a token");
    if (token.length > MAX_TOKEN_LENGTH) return malformed(rc, "token too long");
    if (!B64TOKEN.test(token)) return malformed(rc, "token has characters outside the b64token syntax (RFC 6750)");
    return authenticate(ex, rc, token, false);
  }

  return {
    name: "authn",
    stage: "authn",
    onRequest,
    issuer: (iss) => issuers.get(iss)?.rt,
    warmUp: async () =>
      Promise.all(
        [...issuers.values()].map(async (st) => {
          try {
            await st.rt.refresh();
            return { issuer: st.rt.config.issuer, ok: true };
          } catch (e) {
            return { issuer: st.rt.config.issuer, ok: false, error: (e as Error).message };
          }
        }),
      ),
    close: () => guarded.close(),
  };
}
