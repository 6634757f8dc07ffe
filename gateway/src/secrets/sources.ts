// Secret sources behind one interface: `env` and `file` (the embedded default: no Vault needed) and
// `vault` (KV v1/v2, or any path that issues leased dynamic secrets). Each returns Secret values.

import { readdir, readFile, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { Secret } from "../config/secret.ts";
import type { VaultClient } from "./vault-client.ts";
import { SecretStoreError } from "./vault-errors.ts";

/** A fully resolved reference (templates already substituted). */
export type SecretRef =
  /** keys → environment variable names, e.g. { token: "SERVICENOW_TOKEN" }. */
  | { readonly source: "env"; readonly vars: Readonly<Record<string, string>> }
  /** A JSON object file ({"token": "…"}), or a directory with one file per key (Kubernetes secret volume). */
  | { readonly source: "file"; readonly path: string }
  | {
      readonly source: "vault";
      /** kv-v2 / kv-v1: a KV read under `mount`; leased: GET (or POST with `write`) of `path` as-is. */
      readonly engine: "kv-v2" | "kv-v1" | "leased";
      readonly mount: string;
      readonly path: string;
      /** KV v2 version pin. */
      readonly version?: number | undefined;
      /** leased engine only: issue by POSTing this body (e.g. pki/issue/<role>) instead of GET. */
      readonly write?: Readonly<Record<string, unknown>> | undefined;
    };

export interface Lease {
  readonly id: string;
  readonly durationSeconds: number;
  readonly renewable: boolean;
}

export interface FetchedSecret {
  readonly values: Readonly<Record<string, Secret>>;
  /** TTL the store asked for: a lease duration, or a KV v1 `ttl` hint. undefined = use config. */
  readonly ttlSeconds?: number | undefined;
  readonly lease?: Lease | undefined;
  /** KV v2 version returned. */
  readonly version?: number | undefined;
}

export interface SecretSource {
  readonly kind: SecretRef["source"];
  fetch(ref: SecretRef): Promise<FetchedSecret>;
  /** Renew a lease this source issued; returns the new duration. */
  renew?(lease: Lease): Promise<Lease>;
  close?(): void;
}

/** Stable cache key of a reference: two references with the same key read the same secret. */
export function refKey(ref: SecretRef): string {
  switch (ref.source) {
    case "env":
      return `env:${Object.entries(ref.vars)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join(",")}`;
    case "file":
      return `file:${ref.path}`;
    case "vault":
      return `vault:${ref.engine}:${ref.mount}:${ref.path}${ref.version !== undefined ? `@${ref.version}` : ""}${ref.write ? `+${JSON.stringify(ref.write)}` : ""}`;
  }
}

/** Human description without values (logs, error details). */
export function describeRef(ref: SecretRef): string {
  switch (ref.source) {
    case "env":
      return `env ${Object.values(ref.vars).join(",")}`;
    case "file":
      return `file ${ref.path}`;
    case "vault":
      return `vault ${ref.engine === "leased" ? ref.path : `${ref.mount}/${ref.path}`}${ref.version !== undefined ? ` v${ref.version}` : ""}`;
  }
}

function wrap(data: Record<string, string>): Record<string, Secret> {
  const out: Record<string, Secret> = {};
  for (const [k, v] of Object.entries(data)) out[k] = new Secret(v);
  return out;
}

export function envSource(env: NodeJS.ProcessEnv = process.env): SecretSource {
  return {
    kind: "env",
    async fetch(ref) {
      if (ref.source !== "env") throw new SecretStoreError("invalid", "env source got a non-env reference");
      const data: Record<string, string> = {};
      for (const [key, name] of Object.entries(ref.vars)) {
        const v = env[name];
        if (v === undefined || v === "") throw new SecretStoreError("not_found", `environment variable ${name} is not set`);
        data[key] = v;
      }
      return { values: wrap(data) };
    },
  };
}

/**
 * Files are read again on every refresh, so a rotated file (e.g. a Kubernetes secret volume, which
 * is updated in place) is picked up at the next refresh without a restart.
 */
export function fileSource(baseDir: string): SecretSource {
  return {
    kind: "file",
    async fetch(ref) {
      if (ref.source !== "file") throw new SecretStoreError("invalid", "file source got a non-file reference");
      const full = isAbsolute(ref.path) ? ref.path : resolve(baseDir, ref.path);
      let isDir: boolean;
      try {
        isDir = (await stat(full)).isDirectory();
      } catch (e) {
        throw fileError(ref.path, e);
      }
      const data: Record<string, string> = {};
      if (isDir) {
        // Kubernetes secret volumes hold one file per key plus ..data/..<timestamp> links: skip dot files.
        for (const name of await readdir(full)) {
          if (name.startsWith(".")) continue;
          const p = join(full, name);
          if (!(await stat(p)).isFile()) continue;
          data[name] = (await readFile(p, "utf8")).replace(/\r?\n$/, "");
        }
        return { values: wrap(data) };
      }
      let text: string;
      try {
        text = await readFile(full, "utf8");
      } catch (e) {
        throw fileError(ref.path, e);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Do not echo the parser message: it quotes the file's content.
        throw new SecretStoreError("invalid", `secret file ${ref.path} is not a JSON object`);
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new SecretStoreError("invalid", `secret file ${ref.path} is not a JSON object`);
      }
      for (const [k, v] of Object.entries(parsed))
        if (v !== null && v !== undefined) data[k] = typeof v === "string" ? v : JSON.stringify(v);
      return { values: wrap(data) };
    },
  };
}

function fileError(path: string, e: unknown): SecretStoreError {
  const code = (e as NodeJS.ErrnoException).code ?? "error";
  return new SecretStoreError(code === "ENOENT" ? "not_found" : "unavailable", `cannot read secret file ${path}: ${code}`);
}

export function vaultSource(client: VaultClient): SecretSource {
  return {
    kind: "vault",
    async fetch(ref) {
      if (ref.source !== "vault") throw new SecretStoreError("invalid", "vault source got a non-vault reference");
      if (ref.engine === "leased") {
        const r = await client.readLeased(ref.path, ref.write ? { ...ref.write } : undefined);
        return {
          values: wrap(r.data),
          ttlSeconds: r.leaseDurationSeconds > 0 ? r.leaseDurationSeconds : undefined,
          lease: r.leaseId ? { id: r.leaseId, durationSeconds: r.leaseDurationSeconds, renewable: r.renewable } : undefined,
        };
      }
      const r = await client.readKv(ref.mount, ref.path, ref.engine === "kv-v1" ? 1 : 2, ref.version);
      return {
        values: wrap(r.data),
        ttlSeconds: r.leaseDurationSeconds > 0 ? r.leaseDurationSeconds : undefined,
        version: r.version,
      };
    },
    async renew(lease) {
      const r = await client.renewLease(lease.id, lease.durationSeconds > 0 ? lease.durationSeconds : undefined);
      return { id: lease.id, durationSeconds: r.leaseDurationSeconds, renewable: r.renewable };
    },
    close() {
      client.close();
    },
  };
}
