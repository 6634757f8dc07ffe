// Async config loading with ${vault:…} references: read and parse the YAML, pre-resolve every vault
// reference (one async pass, see vault-references.ts), then the usual synchronous parseConfig with a
// `vault` resolver that only serves the pre-read values. Without vault references it is exactly
// loadConfigFile.

import { dirname } from "node:path";
import { ConfigError, type LoadOptions, parseConfig, readConfigTree } from "../config/load.ts";
import type { GatewayConfig } from "../config/schema.ts";
import type { Logger } from "../logger.ts";
import { prepareVaultResolver } from "./vault-references.ts";

export interface AsyncLoadOptions extends LoadOptions {
  readonly logger?: Logger | undefined;
}

/** Parse an already-read YAML tree, resolving ${vault:…} first. */
export async function parseConfigWithVault(tree: unknown, baseDir: string, opts: AsyncLoadOptions = {}): Promise<GatewayConfig> {
  let vault: Awaited<ReturnType<typeof prepareVaultResolver>>;
  try {
    vault = await prepareVaultResolver(tree, { baseDir, env: opts.env, logger: opts.logger });
  } catch (e) {
    // Messages start with the config path of the reference; they never hold a secret value.
    throw new ConfigError("invalid configuration", [(e as Error).message]);
  }
  const { logger: _logger, ...rest } = opts;
  return parseConfig(tree, baseDir, { ...rest, resolvers: { ...opts.resolvers, ...(vault ? { vault } : {}) } });
}

export async function loadConfigFileWithVault(file: string, opts: AsyncLoadOptions = {}): Promise<GatewayConfig> {
  return parseConfigWithVault(readConfigTree(file), dirname(file), opts);
}
