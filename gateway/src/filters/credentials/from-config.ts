// Build the credentials stage from the validated config: the shared secret cache (env, file and,
// when a `vault` block exists, Vault sources) and the filter for every server with a `credentials`
// block. Used by cli.ts / createGateway; returns undefined when no server has credentials.

import type { CredentialsConfig, SecretCacheConfig, VaultConfig } from "../../config/schema-credentials.ts";
import type { Logger } from "../../logger.ts";
import { createSecretCache } from "../../secrets/from-config.ts";
import { type BackendTransport, type CredentialsFilter, type CredentialsServer, createCredentialsFilter } from "./credentials-filter.ts";

/** The parts of GatewayConfig this needs (structural, so it fits once the main schema has the keys). */
export interface CredentialsConfigView {
  readonly vault?: VaultConfig | undefined;
  readonly secretCache?: SecretCacheConfig | undefined;
  readonly servers: Readonly<Record<string, object & { readonly credentials?: CredentialsConfig | undefined }>>;
}

function transportOf(s: object): BackendTransport {
  if ("url" in s) return "streamable-http";
  if ("sse" in s) return "sse";
  return "stdio";
}

/**
 * The filter, ready to go into the chain, or undefined. Call `await filter.start()` before the
 * listener opens (required credentials; throws CredentialsStartupError) and `filter.close()` on
 * shutdown (stops renewal timers).
 */
export async function credentialsFromConfig(
  config: CredentialsConfigView,
  opts: { baseDir: string; env?: NodeJS.ProcessEnv; logger?: Logger },
): Promise<CredentialsFilter | undefined> {
  const servers: Record<string, CredentialsServer> = {};
  for (const [name, s] of Object.entries(config.servers)) {
    if (s.credentials) servers[name] = { transport: transportOf(s), credentials: s.credentials };
  }
  if (Object.keys(servers).length === 0) return undefined;
  const cache = await createSecretCache(config, { baseDir: opts.baseDir, env: opts.env, logger: opts.logger });
  try {
    return createCredentialsFilter({ servers, cache, logger: opts.logger });
  } catch (e) {
    cache.close();
    throw e;
  }
}
