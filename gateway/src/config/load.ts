// Load a YAML config file: parse, resolve references, validate. Errors name the field path.

import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configErrorMap, formatConfigIssues } from "./issue-messages.ts";
import { resolveConfigPaths } from "./paths.ts";
import { builtinResolvers, ConfigReferenceError, type ReferenceResolver, resolveReferences } from "./references.ts";
import { configSchema, type GatewayConfig } from "./schema.ts";

export class ConfigError extends Error {
  readonly issues: string[];
  constructor(message: string, issues: string[] = []) {
    super(issues.length ? `${message}\n  ${issues.join("\n  ")}` : message);
    this.issues = issues;
    this.name = "ConfigError";
  }
}

export function formatIssues(err: z.ZodError): string[] {
  return formatConfigIssues(err.issues);
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  resolvers?: Record<string, ReferenceResolver>;
}

/** Validate an already-parsed object (YAML/JSON tree). `baseDir` anchors ${file:…}. */
export function parseConfig(tree: unknown, baseDir: string, opts: LoadOptions = {}): GatewayConfig {
  const resolvers = { ...builtinResolvers(baseDir, opts.env ?? process.env), ...opts.resolvers };
  let resolved: unknown;
  try {
    resolved = resolveReferences(tree, resolvers);
  } catch (e) {
    if (e instanceof ConfigReferenceError) throw new ConfigError("invalid configuration", [e.message]);
    throw e;
  }
  const r = configSchema.safeParse(resolved, { error: configErrorMap });
  if (!r.success) throw new ConfigError("invalid configuration", formatIssues(r.error));
  return resolveConfigPaths(r.data, baseDir);
}

/** Read and parse a YAML config file (start-up only); errors are ConfigErrors naming the file. */
export function readConfigTree(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  let tree: unknown;
  try {
    tree = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message}`);
  }
  return tree;
}

export function loadConfigFile(file: string, opts: LoadOptions = {}): GatewayConfig {
  return parseConfig(readConfigTree(file), dirname(file), opts);
}
