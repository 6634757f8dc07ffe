// ${vault:mount/path#key} references in config values. Config loading is synchronous, so references
// are pre-resolved by one async pass over the raw YAML tree before validation: every distinct secret
// is read once, then a synchronous resolver serves the values to resolveReferences().
//
// Syntax: ${vault:<mount>/<path>#<key>} or ${vault:<mount>/<path>?version=<n>#<key>} (KV v2 pin).
// The first path segment is the KV mount; its KV version comes from vault.kvVersions (default 2).
// Values are read once at start: for credentials that rotate, use servers.<name>.credentials.

import { builtinResolvers, type ReferenceResolver, resolveReferences } from "../config/references.ts";
import { vaultConfigSchema } from "../config/schema-credentials.ts";
import { checkStaticPath } from "../filters/credentials/templates.ts";
import type { Logger } from "../logger.ts";
import { createVaultClient } from "./from-config.ts";
import type { VaultClient } from "./vault-client.ts";
import { isSecretStoreError } from "./vault-errors.ts";

export interface VaultReference {
  readonly mount: string;
  readonly path: string;
  readonly key: string;
  readonly version: number | undefined;
}

const VAULT_REF = /\$\{vault:([^}]*)\}/g;

export function parseVaultReference(arg: string): VaultReference {
  const hash = arg.lastIndexOf("#");
  if (hash < 0) throw new Error("a vault reference needs #key, e.g. ${vault:secret/app#password}");
  const key = arg.slice(hash + 1);
  let where = arg.slice(0, hash);
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(key)) throw new Error("the key after # must be [A-Za-z0-9_.-]");
  let version: number | undefined;
  const q = where.indexOf("?");
  if (q >= 0) {
    const m = /^version=([1-9][0-9]{0,9})$/.exec(where.slice(q + 1));
    if (!m) throw new Error("the only query a vault reference accepts is ?version=<n>");
    version = Number(m[1]);
    where = where.slice(0, q);
  }
  where = where.replace(/^\/+/, "");
  const slash = where.indexOf("/");
  if (slash <= 0 || slash === where.length - 1) throw new Error("a vault reference is <mount>/<path>#<key>");
  const problem = checkStaticPath(where);
  if (problem) throw new Error(`vault reference path ${problem}`);
  return { mount: where.slice(0, slash), path: where.slice(slash + 1), key, version };
}

/** Every ${vault:…} in the tree with the config path where it occurs. */
export function collectVaultReferences(node: unknown, path = ""): Array<{ arg: string; path: string }> {
  const out: Array<{ arg: string; path: string }> = [];
  const walk = (n: unknown, p: string) => {
    if (typeof n === "string") {
      for (const m of n.matchAll(VAULT_REF)) out.push({ arg: m[1] ?? "", path: p || "(root)" });
    } else if (Array.isArray(n)) {
      for (const [i, v] of n.entries()) walk(v, `${p}[${i}]`);
    } else if (n && typeof n === "object") {
      for (const [k, v] of Object.entries(n)) walk(v, p ? `${p}.${k}` : k);
    }
  };
  walk(node, path);
  return out;
}

export interface PrepareOptions {
  readonly baseDir: string;
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly logger?: Logger | undefined;
  /** Reuse a client (tests); otherwise one is built from the tree's `vault` block and closed after. */
  readonly client?: VaultClient | undefined;
}

/**
 * Read every ${vault:…} the raw config tree uses and return a synchronous resolver for
 * parseConfig's `resolvers.vault`, or undefined when the tree has no vault reference.
 * Throws an Error whose message starts with the config path of the failing reference.
 */
export async function prepareVaultResolver(tree: unknown, opts: PrepareOptions): Promise<ReferenceResolver | undefined> {
  const root = (tree && typeof tree === "object" ? tree : {}) as Record<string, unknown>;
  const refs = collectVaultReferences(root);
  if (refs.length === 0) return undefined;
  const inVaultBlock = refs.find((r) => r.path === "vault" || r.path.startsWith("vault.") || r.path.startsWith("vault["));
  if (inVaultBlock)
    throw new Error(`${inVaultBlock.path}: the vault block cannot use \${vault:…} references (use \${env:…} or \${file:…})`);

  const parsed = new Map<string, VaultReference>();
  for (const r of refs) {
    try {
      parsed.set(r.arg, parseVaultReference(r.arg));
    } catch (e) {
      throw new Error(`${r.path}: ${(e as Error).message}`);
    }
  }

  let client = opts.client;
  let kvVersions: Record<string, 1 | 2> = {};
  if (!client) {
    if (root.vault === undefined) throw new Error(`${refs[0]?.path}: \${vault:…} references need a top-level vault block`);
    const env = opts.env ?? process.env;
    const vaultTree = resolveReferences(root.vault, builtinResolvers(opts.baseDir, env), "vault");
    const v = vaultConfigSchema.safeParse(vaultTree);
    if (!v.success) {
      const first = v.error.issues[0];
      throw new Error(`vault.${first?.path.join(".") ?? ""}: ${first?.message ?? "invalid"}`);
    }
    kvVersions = v.data.kvVersions;
    client = await createVaultClient(v.data, { baseDir: opts.baseDir, logger: opts.logger });
  } else if (root.vault && typeof root.vault === "object") {
    kvVersions = ((root.vault as Record<string, unknown>).kvVersions ?? {}) as Record<string, 1 | 2>;
  }

  // One read per distinct secret (mount/path/version), shared by all keys.
  const reads = new Map<string, Promise<Record<string, string>>>();
  const readOnce = (r: VaultReference) => {
    const id = `${r.mount}/${r.path}@${r.version ?? ""}`;
    let p = reads.get(id);
    if (!p) {
      p = client.readKv(r.mount, r.path, kvVersions[r.mount] ?? 2, r.version).then((x) => x.data);
      reads.set(id, p);
    }
    return p;
  };
  const values = new Map<string, string>();
  try {
    for (const r of refs) {
      const ref = parsed.get(r.arg)!;
      let data: Record<string, string>;
      try {
        data = await readOnce(ref);
      } catch (e) {
        const why = isSecretStoreError(e) ? `${e.kind}: ${e.message}` : "vault read failed";
        throw new Error(`${r.path}: \${vault:${r.arg}}: ${why}`);
      }
      const v = data[ref.key];
      if (v === undefined) throw new Error(`${r.path}: \${vault:${r.arg}}: key ${ref.key} is not in the secret`);
      values.set(r.arg, v);
    }
  } finally {
    if (!opts.client) client.close();
  }
  return (arg) => {
    const v = values.get(arg);
    if (v === undefined) throw new Error("vault reference was not pre-resolved");
    return v;
  };
}
