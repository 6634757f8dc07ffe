// File paths in a config: every relative path is resolved against the config file's folder (like ${file:…}),
// once at load; and `validate` checks that every file the config names is there and readable.

import { accessSync, constants, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { GatewayConfig } from "./schema.ts";

const abs = (baseDir: string, p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

/** Rewrites the config's path fields to absolute paths (in place; the config is freshly parsed). */
export function resolveConfigPaths(config: GatewayConfig, baseDir: string): GatewayConfig {
  const engine = config.authz ? config.authz.engine : undefined;
  if (engine && engine.type === "wasm" && engine.bundle) engine.bundle = abs(baseDir, engine.bundle);
  const audit = config.telemetry.audit;
  if (audit.path) audit.path = abs(baseDir, audit.path);
  const tls = config.vault?.tls;
  if (tls?.caFile) tls.caFile = abs(baseDir, tls.caFile);
  for (const s of Object.values(config.servers)) {
    if ("command" in s && s.cwd) s.cwd = abs(baseDir, s.cwd);
    const from = s.credentials?.from;
    if (from && "file" in from) from.file = abs(baseDir, from.file);
  }
  return config;
}

function check(problems: string[], field: string, path: string, kind: "file" | "dir" | "writable-dir" | "any") {
  try {
    const st = statSync(path);
    if (kind === "any") accessSync(path, constants.R_OK);
    else if (kind === "file" && !st.isFile()) problems.push(`${field}: ${path} is not a file`);
    else if (kind !== "file" && !st.isDirectory()) problems.push(`${field}: ${path} is not a directory`);
    else accessSync(path, kind === "writable-dir" ? constants.W_OK : constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") problems.push(`${field}: ${path} does not exist`);
    else if (code) problems.push(`${field}: ${path} is not ${kind === "writable-dir" ? "writable" : "readable"} (${code})`);
  }
}

/**
 * Every file the config references, checked: policy bundle, CA file, stdio working directories, the audit
 * file's folder. Per-user credential files ({sub} in the path) and the Kubernetes service-account token
 * (mounted by the kubelet at run time) cannot be checked before a request; they are not.
 */
export function checkReferencedFiles(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const engine = config.authz ? config.authz.engine : undefined;
  if (engine && engine.type === "wasm" && engine.bundle) check(problems, "authz.engine.bundle", engine.bundle, "file");
  const audit = config.telemetry.audit;
  if (audit.enabled && audit.sink === "file" && audit.path) check(problems, "telemetry.audit.path", dirname(audit.path), "writable-dir");
  const tls = config.vault?.tls;
  if (tls?.caFile) check(problems, "vault.tls.caFile", tls.caFile, "file");
  for (const [name, s] of Object.entries(config.servers)) {
    if ("command" in s && s.cwd) check(problems, `servers.${name}.cwd`, s.cwd, "dir");
    const from = s.credentials?.from;
    if (from && "file" in from && !from.file.includes("{")) check(problems, `servers.${name}.credentials.from.file`, from.file, "any");
  }
  return problems;
}
