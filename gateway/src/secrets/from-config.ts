// Build the secret sources and the shared credential cache from the validated config
// (`vault` and `secretCache` blocks). Done once at start; the request path only reads the cache.

import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import type { SecretCacheConfig, VaultConfig } from "../config/schema-credentials.ts";
import type { Logger } from "../logger.ts";
import { type CacheEvent, SecretCache } from "./cache.ts";
import { envSource, fileSource, type SecretSource, vaultSource } from "./sources.ts";
import { type VaultAuth, VaultClient, type VaultClientEvent } from "./vault-client.ts";

export interface SecretsSetupOptions {
  /** Directory relative file paths are resolved against (the config file's directory). */
  readonly baseDir: string;
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly logger?: Logger | undefined;
  readonly onVaultEvent?: ((e: VaultClientEvent) => void) | undefined;
  readonly onCacheEvent?: ((e: CacheEvent) => void) | undefined;
}

export async function createVaultClient(cfg: VaultConfig, opts: SecretsSetupOptions): Promise<VaultClient> {
  let ca: string | undefined;
  if (cfg.tls?.caFile) {
    const p = isAbsolute(cfg.tls.caFile) ? cfg.tls.caFile : resolve(opts.baseDir, cfg.tls.caFile);
    try {
      ca = await readFile(p, "utf8");
    } catch (e) {
      throw new Error(`vault.tls.caFile: cannot read ${cfg.tls.caFile}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
    }
  }
  const a = cfg.auth;
  const auth: VaultAuth =
    a.method === "token"
      ? { method: "token", token: a.token }
      : a.method === "approle"
        ? { method: "approle", roleId: a.roleId, secretId: a.secretId, mount: a.mount }
        : {
            method: "kubernetes",
            role: a.role,
            jwtFile: isAbsolute(a.jwtFile) ? a.jwtFile : resolve(opts.baseDir, a.jwtFile),
            mount: a.mount,
          };
  return new VaultClient({
    address: cfg.address,
    namespace: cfg.namespace,
    auth,
    ca,
    tlsServerName: cfg.tls?.serverName,
    timeoutMs: cfg.timeoutMs,
    renewFraction: cfg.renewFraction,
    logger: opts.logger,
    onEvent: opts.onVaultEvent,
  });
}

/** The shared cache over env, file and (when configured) vault sources. */
export async function createSecretCache(
  cfg: { vault?: VaultConfig | undefined; secretCache?: SecretCacheConfig | undefined },
  opts: SecretsSetupOptions,
): Promise<SecretCache> {
  const sources: Partial<Record<SecretSource["kind"], SecretSource>> = {
    env: envSource(opts.env ?? process.env),
    file: fileSource(opts.baseDir),
  };
  if (cfg.vault) sources.vault = vaultSource(await createVaultClient(cfg.vault, opts));
  const c = cfg.secretCache;
  return new SecretCache({
    sources,
    maxEntries: c?.maxEntries,
    defaults: c ? { ttlSeconds: c.ttlSeconds, maxStaleSeconds: c.maxStaleSeconds, refreshAhead: c.refreshAhead } : undefined,
    logger: opts.logger,
    onEvent: opts.onCacheEvent,
  });
}
