// Async config loading with ${vault:…} references: read and parse the YAML, pre-resolve every vault
// reference (one async pass, see vault-references.ts), then the usual synchronous parseConfig with a
// `vault` resolver that only serves the pre-read values. Without vault references it is exactly
// loadConfigFile.

import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, type LoadOptions, parseConfig } from "../config/load.ts";
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
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  let tree: unknown;
  try {
    tree = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message}`);
  }
  return parseConfigWithVault(tree, dirname(file), opts);
}
