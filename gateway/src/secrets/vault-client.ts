// Vault / OpenBao HTTP API client for the gateway's own identity: login (token, AppRole, Kubernetes),
// token renewal before expiry, re-login on 403, KV v1/v2 reads with version pinning, lease renewal.
//
// Built on node-vault for transport only; the token is sent per request (never node-vault's global
// state), and node-vault's implicit environment handling is switched off: VAULT_TOKEN,
// VAULT_NAMESPACE and VAULT_SKIP_VERIFY are ignored (configuration is explicit), and node-vault's
// `debug` output, which prints request bodies (AppRole secret_id), is disabled.
// API reference: https://openbao.org/api-docs/ (identical to Vault for every endpoint used here).

import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type nodeVault from "node-vault";
import type { Secret } from "../config/secret.ts";
import type { Logger } from "../logger.ts";
import { silentLogger } from "../logger.ts";
import { kindForStatus, SecretStoreError } from "./vault-errors.ts";

export type VaultAuth =
  | { readonly method: "token"; readonly token: Secret }
  | { readonly method: "approle"; readonly roleId: Secret; readonly secretId: Secret | undefined; readonly mount: string }
  | { readonly method: "kubernetes"; readonly role: string; readonly jwtFile: string; readonly mount: string };

export interface VaultClientOptions {
  /** http(s)://host:port of the Vault API (no /v1). */
  readonly address: string;
  readonly auth: VaultAuth;
  /** Vault Enterprise / OpenBao namespace, sent as X-Vault-Namespace. */
  readonly namespace?: string | undefined;
  /** PEM CA bundle trusted for the Vault server's certificate (in addition to nothing else). */
  readonly ca?: string | undefined;
  /** TLS server name to verify instead of the address's host. */
  readonly tlsServerName?: string | undefined;
  /** Per-request timeout (ms). */
  readonly timeoutMs?: number | undefined;
  /** Renew the gateway's token when this fraction of its TTL has elapsed (0 < f < 1). */
  readonly renewFraction?: number | undefined;
  readonly logger?: Logger | undefined;
  /** Observability hook (tests, metrics). Never receives a secret. */
  readonly onEvent?: ((e: VaultClientEvent) => void) | undefined;
}

export type VaultClientEvent =
  | { readonly type: "login"; readonly method: VaultAuth["method"]; readonly ttlSeconds: number; readonly renewable: boolean }
  | { readonly type: "token-renewed"; readonly ttlSeconds: number }
  | { readonly type: "token-renew-failed"; readonly kind: string }
  | { readonly type: "relogin"; readonly reason: "denied" | "expiring" | "renew-failed" }
  | { readonly type: "lease-renewed"; readonly ttlSeconds: number };

/** The parts of a Vault response the gateway reads (https://openbao.org/api-docs/#reading-writing-and-listing-secrets). */
export interface VaultResponse {
  readonly request_id?: string;
  readonly lease_id?: string;
  readonly lease_duration?: number;
  readonly renewable?: boolean;
  readonly data?: Record<string, unknown> | null;
  readonly auth?: {
    readonly client_token?: string;
    readonly accessor?: string;
    readonly lease_duration?: number;
    readonly renewable?: boolean;
  } | null;
  readonly warnings?: string[] | null;
}

export interface KvReadResult {
  /** Key → value as stored; values that are not strings are JSON-encoded. */
  readonly data: Record<string, string>;
  /** KV v2 version actually returned. */
  readonly version: number | undefined;
  /** KV v1 returns a TTL hint (seconds) when the secret has a `ttl` key; 0 otherwise. */
  readonly leaseDurationSeconds: number;
}

export interface LeasedReadResult {
  readonly data: Record<string, string>;
  readonly leaseId: string | undefined;
  readonly leaseDurationSeconds: number;
  readonly renewable: boolean;
}

// node-vault's declared client type uses `any`; this is the narrow surface we call.
interface RawClient {
  token: string;
  namespace: string;
  request(opts: { path: string; method: string; json?: unknown; headers?: Record<string, string> }): Promise<unknown>;
}

interface RawApiError {
  response?: { statusCode?: number };
  code?: string;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DAY_MS = 86_400_000;
/** A token with less than this left is renewed or replaced before use. */
const EXPIRY_MARGIN_MS = 1_000;

// node-vault (CommonJS, with request/axios behind it: several MB of resident code) is loaded by the first client,
// so a gateway with no Vault in its config never loads it (docs/design/memory.md).
const require = createRequire(import.meta.url);
let loadedNodeVault: typeof nodeVault | undefined;
const nodeVaultFactory = (): typeof nodeVault => {
  loadedNodeVault ??= require("node-vault") as typeof nodeVault;
  return loadedNodeVault;
};

export class VaultClient {
  readonly #opts: VaultClientOptions;
  readonly #raw: RawClient;
  readonly #log: Logger;
  readonly #renewFraction: number;
  #token: string | undefined;
  /** 0 = never expires (root / non-expiring token). */
  #tokenExpiresAt = 0;
  #tokenRenewable = false;
  #login: Promise<void> | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: VaultClientOptions) {
    const url = new URL(opts.address);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("vault.address must be an http(s) URL");
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
    this.#renewFraction = opts.renewFraction ?? 2 / 3;
    if (!(this.#renewFraction > 0 && this.#renewFraction < 1)) throw new Error("renewFraction must be between 0 and 1");
    const requestOptions: Record<string, unknown> = { timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS };
    if (opts.ca !== undefined) requestOptions.ca = opts.ca;
    if (opts.tlsServerName !== undefined) requestOptions.agentOptions = { servername: opts.tlsServerName };
    requestOptions.strictSSL = true;
    // rpDefaults is read by node-vault but missing from its typings: strictSSL stays true even
    // when VAULT_SKIP_VERIFY is set in the environment.
    const vaultOptions: Parameters<typeof nodeVault>[0] & { rpDefaults: { strictSSL: boolean } } = {
      endpoint: opts.address.replace(/\/+$/, ""),
      apiVersion: "v1",
      rpDefaults: { strictSSL: true },
      requestOptions,
      debug: () => {},
    };
    const raw = nodeVaultFactory()(vaultOptions) as unknown as RawClient;
    // node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE from the environment: clear both.
    raw.token = "";
    raw.namespace = opts.namespace ?? "";
    this.#raw = raw;
  }

  get authMethod(): VaultAuth["method"] {
    return this.#opts.auth.method;
  }

  /** Seconds until the gateway's token expires (Infinity for a non-expiring token, 0 when not logged in). */
  tokenTtlSeconds(now = Date.now()): number {
    if (this.#token === undefined) return 0;
    if (this.#tokenExpiresAt === 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, (this.#tokenExpiresAt - now) / 1000);
  }

  /** Log in (or look up the static token) if not already authenticated. Single flight. */
  async ensureLoggedIn(): Promise<void> {
    if (this.#closed) throw new SecretStoreError("unavailable", "vault client is closed");
    if (this.#token !== undefined && !this.#expiringSoon()) return;
    if (this.#token !== undefined && this.#opts.auth.method !== "token") this.#emit({ type: "relogin", reason: "expiring" });
    await this.#loginOnce();
  }

  /** GET /v1/{path} as the gateway. On 403 with a re-loginable method: log in again and retry once. */
  async read(path: string): Promise<VaultResponse> {
    return this.#authed("GET", path, undefined);
  }

  /** POST /v1/{path} as the gateway (dynamic secrets that are issued by a write, e.g. pki/issue/…). */
  async write(path: string, body: Record<string, unknown>): Promise<VaultResponse> {
    return this.#authed("POST", path, body);
  }

  /**
   * Read a KV secret. v2: GET {mount}/data/{path}[?version=N]; v1: GET {mount}/{path}.
   * https://openbao.org/api-docs/secret/kv/kv-v2/#read-secret-version , …/kv-v1/#read-secret
   */
  async readKv(mount: string, path: string, kvVersion: 1 | 2, version?: number): Promise<KvReadResult> {
    const m = trimSlashes(mount);
    const p = trimSlashes(path);
    if (kvVersion === 1) {
      const res = await this.read(`${m}/${p}`);
      return { data: stringValues(res.data, `${m}/${p}`), version: undefined, leaseDurationSeconds: res.lease_duration ?? 0 };
    }
    const q = version !== undefined ? `?version=${version}` : "";
    const res = await this.read(`${m}/data/${p}${q}`);
    const inner = res.data?.data;
    const meta = res.data?.metadata as { version?: unknown } | undefined;
    // A deleted or destroyed version answers 200 on some servers with data: null (and 404 on others).
    if (inner === null || inner === undefined)
      throw new SecretStoreError("not_found", `secret ${m}/${p} has no data (deleted or destroyed version)`);
    return {
      data: stringValues(inner, `${m}/${p}`),
      version: typeof meta?.version === "number" ? meta.version : undefined,
      leaseDurationSeconds: 0,
    };
  }

  /** Read a secret that may carry a lease (dynamic secrets: database/creds/…, aws/creds/…). */
  async readLeased(path: string, writeBody?: Record<string, unknown>): Promise<LeasedReadResult> {
    const p = trimSlashes(path);
    const res = writeBody ? await this.write(p, writeBody) : await this.read(p);
    return {
      data: stringValues(res.data, p),
      leaseId: res.lease_id ? res.lease_id : undefined,
      leaseDurationSeconds: res.lease_duration ?? 0,
      renewable: res.renewable === true,
    };
  }

  /** PUT /v1/sys/leases/renew (https://openbao.org/api-docs/system/leases/#renew-lease). */
  async renewLease(leaseId: string, incrementSeconds?: number): Promise<{ leaseDurationSeconds: number; renewable: boolean }> {
    const body: Record<string, unknown> = { lease_id: leaseId };
    if (incrementSeconds !== undefined) body.increment = incrementSeconds;
    const res = await this.#authed("PUT", "sys/leases/renew", body);
    const ttl = res.lease_duration ?? 0;
    this.#emit({ type: "lease-renewed", ttlSeconds: ttl });
    return { leaseDurationSeconds: ttl, renewable: res.renewable === true };
  }

  /** Stop timers. In-flight requests finish; later calls fail as unavailable. */
  close(): void {
    this.#closed = true;
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────

  #emit(e: VaultClientEvent): void {
    this.#opts.onEvent?.(e);
  }

  #expiringSoon(now = Date.now()): boolean {
    return this.#tokenExpiresAt !== 0 && this.#tokenExpiresAt - now < EXPIRY_MARGIN_MS;
  }

  async #authed(method: string, path: string, body: Record<string, unknown> | undefined): Promise<VaultResponse> {
    await this.ensureLoggedIn();
    try {
      return await this.#send(method, path, body, this.#token);
    } catch (e) {
      // A 403 may mean our token was revoked or expired early: log in again once and retry
      // (AppRole / Kubernetes). A static token cannot be replaced, so the 403 stands. When the
      // token still looks itself up fine, the 403 is the policy's answer for this path: no
      // re-login (a misconfigured policy must not turn every request into a login).
      if (e instanceof SecretStoreError && e.kind === "denied" && this.#opts.auth.method !== "token" && !this.#closed) {
        if (await this.#tokenStillValid()) throw e;
        this.#emit({ type: "relogin", reason: "denied" });
        this.#log.info("vault answered 403; logging in again", { "vault.path": path, "vault.auth": this.#opts.auth.method });
        this.#token = undefined;
        await this.#loginOnce();
        return await this.#send(method, path, body, this.#token);
      }
      throw e;
    }
  }

  async #tokenStillValid(): Promise<boolean> {
    try {
      await this.#send("GET", "auth/token/lookup-self", undefined, this.#token);
      return true;
    } catch {
      return false;
    }
  }

  async #send(method: string, path: string, body: unknown, token: string | undefined): Promise<VaultResponse> {
    const headers: Record<string, string> = {};
    if (token) headers["X-Vault-Token"] = token;
    try {
      const res = await this.#raw.request({ path: `/${path}`, method, headers, ...(body !== undefined ? { json: body } : {}) });
      return (res ?? {}) as VaultResponse;
    } catch (e) {
      // Never keep the library's error: an HTTP client error object holds the request headers
      // (X-Vault-Token) and body (secret_id). Only the status / errno code survives.
      throw toStoreError(e, method, path);
    }
  }

  #loginOnce(): Promise<void> {
    if (!this.#login) {
      this.#login = this.#doLogin().finally(() => {
        this.#login = undefined;
      });
    }
    return this.#login;
  }

  async #doLogin(): Promise<void> {
    const auth = this.#opts.auth;
    if (auth.method === "token") {
      // https://openbao.org/api-docs/auth/token/#lookup-a-token-self
      const token = auth.token.reveal();
      const res = await this.#send("GET", "auth/token/lookup-self", undefined, token);
      const ttl = numberOr(res.data?.ttl, 0);
      this.#setToken(token, ttl, res.data?.renewable === true);
      this.#emit({ type: "login", method: "token", ttlSeconds: ttl, renewable: this.#tokenRenewable });
      return;
    }
    let res: VaultResponse;
    if (auth.method === "approle") {
      // https://openbao.org/api-docs/auth/approle/#login-with-approle
      const body: Record<string, unknown> = { role_id: auth.roleId.reveal() };
      if (auth.secretId) body.secret_id = auth.secretId.reveal();
      res = await this.#send("POST", `auth/${trimSlashes(auth.mount)}/login`, body, undefined);
    } else {
      // https://openbao.org/api-docs/auth/kubernetes/#login ; the projected service-account token
      // rotates on disk, so it is read again at every login.
      let jwt: string;
      try {
        jwt = (await readFile(auth.jwtFile, "utf8")).trim();
      } catch (e) {
        throw new SecretStoreError(
          "invalid",
          `cannot read the service-account token file: ${(e as NodeJS.ErrnoException).code ?? "error"}`,
        );
      }
      res = await this.#send("POST", `auth/${trimSlashes(auth.mount)}/login`, { role: auth.role, jwt }, undefined);
    }
    const token = res.auth?.client_token;
    if (!token) throw new SecretStoreError("invalid", `vault ${auth.method} login returned no client token`);
    const ttl = numberOr(res.auth?.lease_duration, 0);
    this.#setToken(token, ttl, res.auth?.renewable === true);
    this.#log.info("logged in to vault", { "vault.auth": auth.method, "vault.token_ttl_s": ttl });
    this.#emit({ type: "login", method: auth.method, ttlSeconds: ttl, renewable: this.#tokenRenewable });
  }

  #setToken(token: string, ttlSeconds: number, renewable: boolean): void {
    this.#token = token;
    this.#tokenExpiresAt = ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : 0;
    this.#tokenRenewable = renewable;
    this.#scheduleRenewal(ttlSeconds);
  }

  /**
   * Renew at renewFraction of the TTL. A token that is not renewable (or a renewal that failed)
   * is replaced by a new login at the same point, for methods that can log in again.
   */
  #scheduleRenewal(ttlSeconds: number): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    if (this.#closed || ttlSeconds <= 0) return;
    const canRelogin = this.#opts.auth.method !== "token";
    if (!this.#tokenRenewable && !canRelogin) return;
    // setTimeout overflows past 2^31-1 ms (~24.8 days) and would fire at once: cap at a day.
    const delay = Math.min(DAY_MS, Math.max(250, Math.floor(ttlSeconds * 1000 * this.#renewFraction)));
    this.#renewTimer = setTimeout(() => void this.#renewOrRelogin(), delay);
    this.#renewTimer.unref();
  }

  async #renewOrRelogin(): Promise<void> {
    this.#renewTimer = undefined;
    if (this.#closed || this.#token === undefined) return;
    const canRelogin = this.#opts.auth.method !== "token";
    if (this.#tokenRenewable) {
      try {
        // https://openbao.org/api-docs/auth/token/#renew-a-token-self
        const res = await this.#send("POST", "auth/token/renew-self", {}, this.#token);
        const ttl = numberOr(res.auth?.lease_duration, 0);
        const remainingBefore = this.tokenTtlSeconds();
        this.#emit({ type: "token-renewed", ttlSeconds: ttl });
        // Renewal is capped by the token's max TTL: once it stops extending the token,
        // log in again instead of renewing into expiry.
        if (canRelogin && ttl <= remainingBefore + Math.min(1, remainingBefore / 4)) {
          this.#tokenExpiresAt = ttl > 0 ? Date.now() + ttl * 1000 : this.#tokenExpiresAt;
          this.#tokenRenewable = false;
          this.#scheduleRenewal(ttl);
          return;
        }
        this.#setToken(this.#token, ttl, res.auth?.renewable === true);
        return;
      } catch (e) {
        const kind = e instanceof SecretStoreError ? e.kind : "unavailable";
        this.#emit({ type: "token-renew-failed", kind });
        this.#log.warn("vault token renewal failed", { "vault.auth": this.#opts.auth.method, "error.type": kind });
        if (!canRelogin) {
          // Retry a static token's renewal while it is still valid.
          const left = this.tokenTtlSeconds();
          if (kind === "unavailable" && left > 2) this.#scheduleRenewal(left / 2);
          return;
        }
      }
    }
    if (!canRelogin) return;
    try {
      this.#emit({ type: "relogin", reason: this.#tokenRenewable ? "renew-failed" : "expiring" });
      await this.#loginOnce();
    } catch (e) {
      const kind = e instanceof SecretStoreError ? e.kind : "unavailable";
      this.#log.warn("vault re-login failed; will retry", { "vault.auth": this.#opts.auth.method, "error.type": kind });
      // Keep trying while the current token lasts; after that, requests log in on demand.
      const left = this.tokenTtlSeconds();
      if (left > 2) {
        this.#tokenRenewable = false;
        this.#scheduleRenewal(left / 2);
      }
    }
  }
}

function toStoreError(e: unknown, method: string, path: string): SecretStoreError {
  const where = `${method} ${stripQuery(path)}`;
  const err = (e ?? {}) as RawApiError;
  const status = err.response?.statusCode;
  if (typeof status === "number") {
    const kind = kindForStatus(status);
    const what = status === 503 ? "vault is sealed or unavailable" : status === 403 ? "permission denied" : `HTTP ${status}`;
    return new SecretStoreError(kind, `${where}: ${what}`, status);
  }
  // Network-level failure: connection refused/reset, DNS, TLS, timeout (axios: ECONNABORTED).
  const code = typeof err.code === "string" ? err.code : "network error";
  return new SecretStoreError("unavailable", `${where}: ${code}`);
}

function stripQuery(path: string): string {
  const i = path.indexOf("?");
  return i < 0 ? path : path.slice(0, i);
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, "");
}

function numberOr(v: unknown, d: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : d;
}

/** Secret data as strings: nested values are JSON-encoded so every key can be injected as text. */
function stringValues(data: unknown, where: string): Record<string, string> {
  if (!data || typeof data !== "object" || Array.isArray(data))
    throw new SecretStoreError("invalid", `secret ${where} has no key/value data`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === null || v === undefined) continue;
    out[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}
