// Config sub-schema of the `auth` block: issuers (JWT / introspection / userinfo), API keys, per-route
// requirements (scopes, MFA), dev mode. The main schema plugs it in as `auth: authSchema.optional()`.

import { z } from "zod";
import { plain, secret } from "./secret.ts";

const str = () => z.preprocess(plain, z.string());
// schema.ts imports this file to plug `auth` in, so `secret` is still uninitialised while this module
// evaluates (ESM cycle): defer the call until parse time.
const secretField = () => z.lazy(() => secret());
const url = () => str().pipe(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }));

/** Asymmetric JWS algorithms (RFC 7518 §3, RFC 8037). HS* are only possible with an explicit `hmacSecret`. */
export const ASYMMETRIC_ALGS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
export const HMAC_ALGS = ["HS256", "HS384", "HS512"] as const;

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);
/** Loopback per RFC 8252 §8.3 / RFC 6890: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_HOSTS.has(h) || /^127(?:\.\d{1,3}){3}$/.test(h) || h.endsWith(".localhost");
}

/** Where the claims the gateway needs live in this issuer's tokens. Paths are dot paths (`realm_access.roles`). */
export const claimsMappingSchema = z
  .object({
    subject: z.string().default("sub"),
    /** Each path may hold an array of strings or a space/comma-separated string; all are merged into `groups`. */
    groups: z.array(z.string()).default(["groups", "roles"]),
    scopes: z.array(z.string()).default(["scope", "scp"]),
    clientId: z.array(z.string()).default(["client_id", "azp", "appid", "cid"]),
    amr: z.string().default("amr"),
    acr: z.string().default("acr"),
    tenant: z.string().optional(),
  })
  .strict();

const claimsDefault = {
  subject: "sub",
  groups: ["groups", "roles"],
  scopes: ["scope", "scp"],
  clientId: ["client_id", "azp", "appid", "cid"],
  amr: "amr",
  acr: "acr",
};

export const introspectionSchema = z
  .object({
    clientId: str().pipe(z.string().min(1)),
    clientSecret: secretField(),
    /** Default: `introspection_endpoint` of the issuer's metadata. */
    endpoint: url().optional(),
    authMethod: z.enum(["client_secret_basic", "client_secret_post"]).default("client_secret_basic"),
    /** An active result is cached at most this long (and never past the token's `exp`). 0 = no cache. */
    cacheMaxSeconds: z.number().int().min(0).max(3600).default(60),
    /** Accept an active token whose introspection response has no `aud` (weaker: any token of the issuer). */
    allowMissingAudience: z.boolean().default(false),
  })
  .strict();

export const userinfoSchema = z
  .object({
    /** Default: `userinfo_endpoint` of the issuer's metadata. */
    endpoint: url().optional(),
    cacheSeconds: z.number().int().min(0).max(3600).default(60),
  })
  .strict();

export const issuerSchema = z
  .object({
    /** Exact `iss` value; metadata is discovered at `<issuer>/.well-known/openid-configuration` or the RFC 8414 URL. */
    issuer: url(),
    /** Explicit metadata document URL (skips discovery). */
    metadataUrl: url().optional(),
    /** Explicit JWKS URL (skips metadata for JWT verification). */
    jwksUri: url().optional(),
    /**
     * Accepted `aud` values instead of the route's resource URL (e.g. Entra `api://<app-id>`). `{server}` is
     * replaced by the route name. Without it, aud must be the canonical resource URL (RFC 8707).
     */
    audiences: z.array(z.string().min(1)).optional(),
    algorithms: z.array(z.enum([...ASYMMETRIC_ALGS, ...HMAC_ALGS])).default([...ASYMMETRIC_ALGS]),
    /** Shared secret for HS* tokens of this issuer; HS* algorithms are refused without it. */
    hmacSecret: secretField().optional(),
    /** Allowed clock difference for exp/nbf, bounded to 5 minutes. */
    clockSkewSeconds: z.number().int().min(0).max(300).default(30),
    /** Require JWT header `typ: at+jwt` (RFC 9068 §4). Other explicit token types (id+jwt, dpop+jwt …) are always refused. */
    requireAtJwt: z.boolean().default(false),
    claims: claimsMappingSchema.default(claimsDefault),
    /** RFC 7662 introspection for opaque tokens. */
    introspection: introspectionSchema.optional(),
    /** OIDC userinfo for opaque tokens when no introspection is configured (no audience check possible). */
    userinfo: userinfoSchema.optional(),
    /** List this issuer in protected resource metadata `authorization_servers`. */
    advertise: z.boolean().default(true),
  })
  .strict();

export const apiKeySchema = z
  .object({
    /** Public identifier (logged, becomes Principal.clientId). */
    id: z.string().min(1),
    /** Hex SHA-256 of the key. Keys must be random (≥ 128 bits), so a fast hash is enough and lookup stays O(1). */
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "sha256 must be 64 hex characters")
      .transform((s) => s.toLowerCase()),
    subject: z.string().min(1),
    groups: z.array(z.string()).default([]),
    scopes: z.array(z.string()).default([]),
    tenant: z.string().optional(),
    /** The key is refused from this instant (ISO 8601), for rotation. */
    notAfter: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const mfaSchema = z
  .object({
    /** Accepted `acr` values (any). */
    acrValues: z.array(z.string()).default([]),
    /** Accepted `amr` values (any). Default: RFC 8176 `mfa`. */
    amr: z.array(z.string()).default(["mfa"]),
    /** Authentication must be at most this old (needs `auth_time`). */
    maxAgeSeconds: z.number().int().positive().optional(),
  })
  .strict();

export const routeAuthSchema = z
  .object({
    requiredScopes: z.array(z.string()).default([]),
    mfa: mfaSchema.optional(),
    /** Restrict this route to some issuers (by issuer URL). */
    issuers: z.array(z.string()).optional(),
    apiKeys: z.boolean().default(true),
  })
  .strict();

export const authSchema = z
  .object({
    issuers: z.array(issuerSchema).default([]),
    apiKeys: z.array(apiKeySchema).default([]),
    /** Also accept API keys in this header (e.g. x-api-key); Authorization: Bearer always works. */
    apiKeyHeader: z.string().toLowerCase().optional(),
    /** Issuer recorded in the Principal of an API key caller. */
    apiKeyIssuer: z.string().default("urn:mcp-gateway:api-key"),
    /** Accept the base URL itself as audience, besides publicBaseUrl + /mcp/{name}. */
    acceptBaseUrlAudience: z.boolean().default(false),
    /** Advertised in protected resource metadata (`scopes_supported`). */
    scopesSupported: z.array(z.string()).optional(),
    resourceDocumentation: url().optional(),
    /** Applies to routes not listed in `routes`. */
    defaultRoute: routeAuthSchema.default({ requiredScopes: [], apiKeys: true }),
    routes: z.record(z.string(), routeAuthSchema).default({}),
    /** Quickstart only: random API keys printed at start; refused unless the listener is loopback. */
    dev: z.boolean().default(false),
    /** Allow http:// metadata/JWKS/introspection URLs on loopback (tests, local IdP). */
    allowInsecureLoopback: z.boolean().default(false),
    /** Allow IdP URLs that resolve to private (RFC 1918, ULA, link-local) addresses. */
    allowPrivateNetworks: z.boolean().default(false),
    fetchTimeoutMs: z.number().int().positive().max(60_000).default(5000),
    jwks: z
      .object({
        /** Minimum time between two JWKS fetches of one issuer (unknown kid refetch is rate-limited by it). */
        cooldownSeconds: z.number().int().min(0).default(30),
        /** Refresh the JWKS in the background after this long. Failures keep the cached keys. */
        maxAgeSeconds: z.number().int().positive().default(600),
      })
      .strict()
      .default({ cooldownSeconds: 30, maxAgeSeconds: 600 }),
    /** Verified-token cache (per token string, never past exp). 0 disables it. */
    tokenCacheSize: z.number().int().min(0).default(10_000),
  })
  .strict()
  .superRefine((a, ctx) => {
    a.issuers.forEach((iss, i) => {
      const urls: [string, string | undefined][] = [
        ["issuer", iss.issuer],
        ["metadataUrl", iss.metadataUrl],
        ["jwksUri", iss.jwksUri],
        ["introspection.endpoint", iss.introspection?.endpoint],
        ["userinfo.endpoint", iss.userinfo?.endpoint],
      ];
      for (const [field, u] of urls) {
        if (!u) continue;
        const parsed = new URL(u);
        if (parsed.protocol === "https:") continue;
        if (a.allowInsecureLoopback && isLoopbackHost(parsed.hostname)) continue;
        ctx.addIssue({
          code: "custom",
          path: ["issuers", i, ...field.split(".")],
          message: "must be https (http only on loopback with allowInsecureLoopback: true)",
        });
      }
      if (iss.algorithms.some((al) => al.startsWith("HS")) && !iss.hmacSecret) {
        ctx.addIssue({ code: "custom", path: ["issuers", i, "algorithms"], message: "HS* algorithms need hmacSecret" });
      }
    });
    const ids = new Set<string>();
    a.apiKeys.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: "custom", path: ["apiKeys", i, "id"], message: `duplicate API key id ${k.id}` });
      ids.add(k.id);
    });
  });

export type AuthConfig = z.output<typeof authSchema>;
export type AuthConfigInput = z.input<typeof authSchema>;
export type IssuerConfig = z.output<typeof issuerSchema>;
export type ApiKeyConfig = z.output<typeof apiKeySchema>;
export type RouteAuthConfig = z.output<typeof routeAuthSchema>;
export type ClaimsMapping = z.output<typeof claimsMappingSchema>;
