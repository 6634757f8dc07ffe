// ${env:NAME} and ${file:path} references in config values, resolved once at load.
// A value that used a reference becomes a Secret; fields that are not secret unwrap it.
// Other schemes (e.g. ${vault:path#key}) are added by registering a resolver.

import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { Secret } from "./secret.ts";

export type ReferenceResolver = (arg: string) => string;

export class ConfigReferenceError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
    this.name = "ConfigReferenceError";
  }
}

const REF = /\$\{([a-z]+):([^}]*)\}/g;

export function builtinResolvers(baseDir: string, env: NodeJS.ProcessEnv): Record<string, ReferenceResolver> {
  return {
    env(name) {
      const v = env[name];
      if (v === undefined) throw new Error(`environment variable ${name} is not set`);
      return v;
    },
    file(p) {
      const full = isAbsolute(p) ? p : resolve(baseDir, p);
      try {
        return readFileSync(full, "utf8").replace(/\r?\n$/, "");
      } catch (e) {
        throw new Error(`cannot read file ${p}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
      }
    },
  };
}

/** Walk a parsed YAML tree, replacing strings that contain references. */
export function resolveReferences(node: unknown, resolvers: Record<string, ReferenceResolver>, path = ""): unknown {
  if (typeof node === "string") {
    if (!node.includes("${")) return node;
    let used = false;
    let out: string;
    try {
      out = node.replace(REF, (_m, scheme: string, arg: string) => {
        const r = resolvers[scheme];
        if (!r) throw new Error(`unknown reference scheme "${scheme}" (known: ${Object.keys(resolvers).join(", ")})`);
        used = true;
        return r(arg);
      });
    } catch (e) {
      throw new ConfigReferenceError(path || "(root)", (e as Error).message);
    }
    return used ? new Secret(out) : out;
  }
  if (Array.isArray(node)) return node.map((v, i) => resolveReferences(v, resolvers, `${path}[${i}]`));
  if (node && typeof node === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) o[k] = resolveReferences(v, resolvers, path ? `${path}.${k}` : k);
    return o;
  }
  return node;
}
