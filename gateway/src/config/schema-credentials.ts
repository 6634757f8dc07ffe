// Config sub-schemas for backend credentials: the top-level `vault` block (how the gateway reaches
// and logs in to Vault/OpenBao), the top-level `secretCache` defaults, and `servers.<name>.credentials`.
//
// Secret fields use schema.ts's secret() through z.lazy so that schema.ts can import this file
// without an evaluation-order cycle (schema.ts → this file → schema.ts).

import { z } from "zod";
import { checkStaticPath, PathTemplate, ValueTemplate } from "../filters/credentials/templates.ts";
import { plain, secret } from "./secret.ts";

const secretField = () => z.lazy(() => secret());
const str = () => z.preprocess(plain, z.string());

const mountName = str().refine((m) => checkStaticPath(m) === undefined && !m.includes("{"), "a Vault mount path, e.g. secret or team/kv");

// ── vault ─────────────────────────────────────────────────────────────────────────────────────────

export const vaultAuthSchema = z.discriminatedUnion("method", [
  z
    .object({
      method: z.literal("token"),
      /** A periodic or renewable token is renewed before expiry; a static one cannot be replaced on 403. */
      token: secretField(),
    })
    .strict(),
  z
    .object({
      method: z.literal("approle"),
      roleId: secretField(),
      /** Absent only for roles created with bind_secret_id=false. */
      secretId: secretField().optional(),
      mount: mountName.default("approle"),
    })
    .strict(),
  z
    .object({
      method: z.literal("kubernetes"),
      role: str().pipe(z.string().min(1)),
      /** Projected service-account token; read again at every login because the kubelet rotates it. */
      jwtFile: str().default("/var/run/secrets/kubernetes.io/serviceaccount/token"),
      mount: mountName.default("kubernetes"),
    })
    .strict(),
]);

export const vaultConfigSchema = z
  .object({
    address: str().pipe(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" })),
    /** Vault Enterprise / OpenBao namespace (X-Vault-Namespace). */
    namespace: str().optional(),
    auth: vaultAuthSchema,
    tls: z
      .object({
        /** PEM file with the CA(s) that sign the Vault server certificate. */
        caFile: str().optional(),
        /** Name to verify in the server certificate when it differs from the address host. */
        serverName: str().optional(),
      })
      .strict()
      .optional(),
    timeoutMs: z.number().int().positive().default(5_000),
    /** Renew the gateway's own token when this fraction of its TTL has elapsed. */
    renewFraction: z
      .number()
      .gt(0)
      .lt(1)
      .default(2 / 3),
    /** KV version per mount for ${vault:mount/path#key} references (default 2). */
    kvVersions: z.record(z.string(), z.union([z.literal(1), z.literal(2)])).default({}),
  })
  .strict();

// ── cache ─────────────────────────────────────────────────────────────────────────────────────────

const cachePolicyFields = {
  /** Lifetime of a value without a lease (s); a lease or KV v1 ttl shortens it. */
  ttlSeconds: z.number().positive(),
  /** Serve a value this long past expiry while the store is unreachable (s); 0 = never stale. */
  maxStaleSeconds: z.number().min(0),
  /** Refresh (or renew the lease) in the background after this fraction of the TTL. */
  refreshAhead: z.number().gt(0).lt(1),
};

export const secretCacheSchema = z
  .object({
    ttlSeconds: cachePolicyFields.ttlSeconds.default(300),
    maxStaleSeconds: cachePolicyFields.maxStaleSeconds.default(600),
    refreshAhead: cachePolicyFields.refreshAhead.default(0.75),
    /** Bound on cached secrets (per-user entries count one each). */
    maxEntries: z.number().int().positive().default(1000),
  })
  .strict();

// ── servers.<name>.credentials ───────────────────────────────────────────────────────────────────

const pathTemplate = str().superRefine((p, ctx) => {
  try {
    new PathTemplate(p);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
  }
});

const valueTemplate = str().superRefine((v, ctx) => {
  try {
    new ValueTemplate(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
  }
});

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 9110 §5.1 field-name (token). */
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the transport owns; credentials may not set them. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "upgrade",
  "te",
  "accept",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
]);

const vaultFrom = z
  .object({
    /** kv-v2 (default), kv-v1, or leased: a path that issues dynamic secrets with a lease (database/creds/<role>). */
    engine: z.enum(["kv-v2", "kv-v1", "leased"]).default("kv-v2"),
    /** KV mount (ignored by `leased`, whose path is the full API path). */
    mount: mountName.default("secret"),
    /** Secret path under the mount; may use {sub}, {clientId}, {tenant}, {claims.<name>} (per-user). */
    path: pathTemplate,
    /** KV v2 version pin. */
    version: z.number().int().positive().optional(),
    /** leased only: issue by POSTing this body instead of GET (e.g. pki/issue/<role>). */
    write: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((v) => v.version === undefined || v.engine === "kv-v2", { message: "version pinning needs engine kv-v2", path: ["version"] })
  .refine((v) => v.write === undefined || v.engine === "leased", { message: "write is only for engine leased", path: ["write"] });

const fromSchema = z.union(
  [
    z.object({ vault: vaultFrom }).strict(),
    /** secret key → environment variable of the gateway, e.g. { token: SERVICENOW_TOKEN }. */
    z
      .object({
        env: z
          .record(z.string(), z.string().regex(envName, "an environment variable name"))
          .refine((r) => Object.keys(r).length > 0, "name at least one key"),
      })
      .strict(),
    /** JSON object file, or directory with one file per key (Kubernetes secret volume); may be per-user. */
    z.object({ file: pathTemplate }).strict(),
  ],
  { error: "credentials.from must be exactly one of { vault: {…} }, { env: {…} }, { file: path }" },
);

export const credentialsSchema = z
  .object({
    from: fromSchema,
    inject: z
      .object({
        /** Header → value template, e.g. Authorization: "Bearer {token}", X-Api-Key: "{api_key}". */
        headers: z.record(z.string().regex(headerName, "an HTTP header name"), valueTemplate).default({}),
        /** Authorization: Basic base64(username:password) (RFC 7617). */
        basic: z.object({ username: valueTemplate, password: valueTemplate }).strict().optional(),
        /** stdio backends: environment variable → value template. */
        env: z.record(z.string().regex(envName, "an environment variable name"), valueTemplate).default({}),
      })
      .strict(),
    /** Fetch at start and refuse to start if it fails (not allowed for per-user paths). */
    required: z.boolean().default(false),
    /** Extra request headers removed before injection (Authorization and Cookie never reach a backend anyway). */
    stripHeaders: z.array(z.string().regex(headerName, "an HTTP header name")).default([]),
    /** Per-server cache overrides. */
    cache: z.object(cachePolicyFields).partial().strict().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const inj = c.inject;
    if (Object.keys(inj.headers).length === 0 && !inj.basic && Object.keys(inj.env).length === 0) {
      ctx.addIssue({ code: "custom", message: "inject at least one of headers, basic, env", path: ["inject"] });
    }
    for (const h of Object.keys(inj.headers)) {
      if (RESERVED_HEADERS.has(h.toLowerCase()))
        ctx.addIssue({ code: "custom", message: `header ${h} cannot be injected`, path: ["inject", "headers", h] });
      if (inj.basic && h.toLowerCase() === "authorization") {
        ctx.addIssue({ code: "custom", message: "use either basic or an Authorization header, not both", path: ["inject", "basic"] });
      }
    }
    const perUserPath = "vault" in c.from ? c.from.vault.path : "file" in c.from ? c.from.file : "";
    if (c.required && /\{[^}]*\}/.test(perUserPath)) {
      ctx.addIssue({
        code: "custom",
        message: "required cannot be used with a per-user path (there is no caller at start)",
        path: ["required"],
      });
    }
  });

export type VaultConfig = z.output<typeof vaultConfigSchema>;
export type VaultAuthConfig = z.output<typeof vaultAuthSchema>;
export type SecretCacheConfig = z.output<typeof secretCacheSchema>;
export type CredentialsConfig = z.output<typeof credentialsSchema>;
