// The credentials stage: for the exchange's server, fetch its backend credential (Vault, env or
// file, through the shared cache) and inject it into ex.upstreamHeaders (HTTP backends) or
// ex.upstreamEnv (stdio children). The caller's own credentials never pass: configured headers are
// stripped first, and MCP's authorization spec forbids token passthrough
// (https://modelcontextprotocol.io/specification/2025-11-25/basic/security_best_practices#token-passthrough).

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Exchange, Filter, LocalReply, Principal, Verdict } from "../../chain/types.ts";
import { UPSTREAM_STRIP } from "../../chain/types.ts";
import type { CredentialsConfig } from "../../config/schema-credentials.ts";
import type { Secret } from "../../config/secret.ts";
import { channels, STAGE_ATTRIBUTES } from "../../diagnostics.ts";
import { type ErrorCode, GatewayError } from "../../errors.ts";
import { traceFields } from "../../log/message-facts.ts";
import type { Logger } from "../../logger.ts";
import { silentLogger } from "../../logger.ts";
import type { CachedSecret, CachePolicy, SecretCache } from "../../secrets/cache.ts";
import { describeRef, refKey, type SecretRef } from "../../secrets/sources.ts";
import { isSecretStoreError } from "../../secrets/vault-errors.ts";
import { PathTemplate, ValueTemplate } from "./templates.ts";

export type BackendTransport = "streamable-http" | "sse" | "stdio";

export interface CredentialsServer {
  readonly transport: BackendTransport;
  readonly credentials: CredentialsConfig;
}

export interface CredentialsFilterOptions {
  /** Servers that have a `credentials` block, by route name. */
  readonly servers: Readonly<Record<string, CredentialsServer>>;
  readonly cache: SecretCache;
  readonly logger?: Logger | undefined;
}

export interface CredentialsFilter extends Filter {
  /**
   * Fetch every `required` server's credential (a failure is a start-up error naming the server
   * and reference) and warm the other server-wide credentials in the background.
   */
  start(): Promise<void>;
  close(): void;
}

/** Thrown by start(): one line per server whose required credential could not be loaded. */
export class CredentialsStartupError extends Error {
  readonly issues: readonly string[];
  constructor(issues: string[]) {
    super(`backend credentials unavailable at start:\n  ${issues.join("\n  ")}`);
    this.name = "CredentialsStartupError";
    this.issues = issues;
  }
}

/**
 * ex.vars key: the lower-case header names this server's credentials strip (ReadonlySet<string>).
 * The relay adds allow-listed caller headers (traceparent, mcp-param-*, …) after the chain ran; it
 * must skip these names so `stripHeaders` also covers what it forwards.
 */
/** The chain-level key the relay reads (chain/types.ts UPSTREAM_STRIP). */
export const CREDENTIALS_STRIP = UPSTREAM_STRIP;

/**
 * ex.vars key: a digest of the credential values injected for this exchange (string). Upstreams that
 * keep a connection or child across exchanges (stdio children, legacy SSE connections, the shared
 * 2026-07-28 child) should key it by this value, so a rotated credential gets a new connection
 * instead of the old one living on. Not secret-derived in any recoverable way (SHA-256, truncated).
 */
export const CREDENTIALS_FINGERPRINT: unique symbol = Symbol("mcp-gateway.credentials.fingerprint");

/** ex.vars key: this exchange's credentials verdict (or the pending fetch), shared by its messages. */
const APPLIED = Symbol("mcp-gateway.credentials.applied");
const OK = Symbol("ok");

/** Never forwarded, whatever the configuration says (the relay's allow-list excludes them too). */
const ALWAYS_STRIPPED = ["authorization", "proxy-authorization", "cookie"];

interface Rendered {
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly env: ReadonlyArray<readonly [string, string]>;
  readonly fingerprint: string;
}

interface Compiled {
  readonly server: string;
  readonly ref: (p: Principal | undefined) => { ok: true; ref: SecretRef } | { ok: false; field: string };
  readonly perUser: boolean;
  readonly required: boolean;
  readonly policy: CachePolicy;
  readonly strip: ReadonlySet<string>;
  readonly headers: ReadonlyArray<readonly [string, ValueTemplate]>;
  readonly basic: { readonly username: ValueTemplate; readonly password: ValueTemplate } | undefined;
  readonly env: ReadonlyArray<readonly [string, ValueTemplate]>;
  readonly keys: readonly string[];
  /** Cache key of a server-wide (not per-user) reference, computed once. */
  readonly staticKey: string | undefined;
}

function compile(server: string, s: CredentialsServer, defaults: CachePolicy): Compiled {
  const c = s.credentials;
  const where = `servers.${server}.credentials`;
  const http = s.transport !== "stdio";
  const headers = Object.entries(c.inject.headers).map(([h, v]) => [h, new ValueTemplate(v)] as const);
  const env = Object.entries(c.inject.env).map(([n, v]) => [n, new ValueTemplate(v)] as const);
  const basic = c.inject.basic
    ? { username: new ValueTemplate(c.inject.basic.username), password: new ValueTemplate(c.inject.basic.password) }
    : undefined;
  if (!http && (headers.length > 0 || basic)) throw new Error(`${where}.inject: a stdio backend takes env, not headers/basic`);
  if (http && env.length > 0) throw new Error(`${where}.inject.env: an HTTP backend takes headers/basic, not env`);

  let ref: Compiled["ref"];
  let perUser = false;
  const from = c.from;
  if ("vault" in from) {
    const v = from.vault;
    const t = new PathTemplate(v.path);
    perUser = t.perUser;
    ref = (p) => {
      const r = t.render(p);
      if (!r.ok) return r;
      return { ok: true, ref: { source: "vault", engine: v.engine, mount: v.mount, path: r.path, version: v.version, write: v.write } };
    };
  } else if ("file" in from) {
    const t = new PathTemplate(from.file);
    perUser = t.perUser;
    ref = (p) => {
      const r = t.render(p);
      return r.ok ? { ok: true, ref: { source: "file", path: r.path } } : r;
    };
  } else {
    const fixed: SecretRef = { source: "env", vars: { ...from.env } };
    ref = () => ({ ok: true, ref: fixed });
  }

  // stdio children and legacy SSE connections outlive one exchange, and in 2026-07-28 (no sessions)
  // one of them is shared by every caller of the route: a per-user credential given to it would
  // serve the next caller too. Refused until those upstreams are partitioned by CREDENTIALS_FINGERPRINT.
  if (perUser && s.transport !== "streamable-http") {
    throw new Error(
      `${where}.from: per-user credentials need a Streamable HTTP backend (${s.transport} connections are shared across callers)`,
    );
  }

  const strip = new Set([...ALWAYS_STRIPPED, ...c.stripHeaders.map((h) => h.toLowerCase()), ...headers.map(([h]) => h.toLowerCase())]);
  const keys = new Set<string>();
  for (const [, t] of [...headers, ...env]) for (const k of t.keys) keys.add(k);
  if (basic) for (const k of [...basic.username.keys, ...basic.password.keys]) keys.add(k);
  return {
    server,
    ref,
    perUser,
    required: c.required,
    policy: { ...defaults, ...definedOnly(c.cache ?? {}) },
    strip,
    headers,
    basic,
    env,
    keys: [...keys],
    staticKey: (() => {
      if (perUser) return undefined;
      const r = ref(undefined);
      return r.ok ? refKey(r.ref) : undefined;
    })(),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function reply(code: ErrorCode, detail: string): LocalReply {
  return { error: new GatewayError(code, detail) };
}

// RFC 9110 §5.5: field values exclude CR, LF and NUL; a secret holding one must not split a header.
const BAD_HEADER_VALUE = /[\r\n\0]/;

export function createCredentialsFilter(opts: CredentialsFilterOptions): CredentialsFilter {
  const log = opts.logger ?? silentLogger;
  const cache = opts.cache;
  const compiled = new Map<string, Compiled>();
  for (const [name, s] of Object.entries(opts.servers)) compiled.set(name, compile(name, s, cache.defaults));

  /** Fill the exchange from the secret's values, or say which key is unusable (never its value). */
  /**
   * Rendered headers/env per secret value set. The cache hands out the same values object until the
   * secret is refreshed, so a hit renders nothing; a refresh makes a new object and the old entry
   * goes with it (WeakMap). Per server, since two servers may share one secret with other templates.
   */
  const rendered = new Map<Compiled, WeakMap<object, Rendered | LocalReply>>();

  function render(c: Compiled, values: Readonly<Record<string, Secret>>): Rendered | LocalReply {
    const headers: Array<readonly [string, string]> = [];
    const env: Array<readonly [string, string]> = [];
    for (const [h, t] of c.headers) {
      const r = t.render(values);
      if (!r.ok) return missingKey(c, r.missing);
      if (BAD_HEADER_VALUE.test(r.value)) return badValue(c, h);
      headers.push([h, r.value]);
    }
    if (c.basic) {
      const u = c.basic.username.render(values);
      if (!u.ok) return missingKey(c, u.missing);
      const p = c.basic.password.render(values);
      if (!p.ok) return missingKey(c, p.missing);
      // RFC 7617 §2: the user-id cannot contain a colon.
      if (u.value.includes(":") || BAD_HEADER_VALUE.test(u.value) || p.value.includes("\0")) return badValue(c, "basic");
      headers.push(["Authorization", `Basic ${Buffer.from(`${u.value}:${p.value}`, "utf8").toString("base64")}`]);
    }
    for (const [n, t] of c.env) {
      const r = t.render(values);
      if (!r.ok) return missingKey(c, r.missing);
      if (r.value.includes("\0")) return badValue(c, n);
      env.push([n, r.value]);
    }
    const fingerprint = createHash("sha256")
      .update(JSON.stringify([c.server, headers, env]))
      .digest("base64url")
      .slice(0, 22);
    return { headers, env, fingerprint };
  }

  /** Fill the exchange from the secret's values, or say which key is unusable (never its value). */
  function inject(c: Compiled, ex: Exchange, values: Readonly<Record<string, Secret>>): Verdict {
    let memo = rendered.get(c);
    if (!memo) {
      memo = new WeakMap();
      rendered.set(c, memo);
    }
    let r = memo.get(values);
    if (!r) {
      r = render(c, values);
      memo.set(values, r);
    }
    if ("error" in r) return r;
    for (const [h, v] of r.headers) ex.upstreamHeaders[h] = v;
    for (const [n, v] of r.env) ex.upstreamEnv[n] = v;
    ex.vars.set(CREDENTIALS_FINGERPRINT, r.fingerprint);
    return undefined;
  }

  function missingKey(c: Compiled, key: string): LocalReply {
    log.warn("backend credential lacks a configured key", { "server.name": c.server, "secret.key": key });
    return reply("CREDENTIALS_MISSING", `server ${c.server}`);
  }

  function badValue(c: Compiled, target: string): LocalReply {
    log.warn("backend credential value cannot be injected (control characters)", { "server.name": c.server, "credential.target": target });
    return reply("CREDENTIALS_MISSING", `server ${c.server}`);
  }

  function fetchFailed(c: Compiled, ref: SecretRef, e: unknown, ex: Exchange): LocalReply {
    const kind = isSecretStoreError(e) ? e.kind : "unavailable";
    log.warn("backend credential could not be fetched", {
      ...traceFields(ex),
      "server.name": c.server,
      "secret.ref": describeRef(ref),
      "error.type": kind,
      // SecretStoreError messages carry method, path and status only.
      "error.message": isSecretStoreError(e) ? e.message : "secret source failed",
    });
    return reply(kind === "unavailable" ? "CREDENTIALS_UNAVAILABLE" : "CREDENTIALS_MISSING", `server ${c.server}`);
  }

  function apply(ex: Exchange): Verdict | Promise<Verdict> {
    const c = compiled.get(ex.server);
    if (!c) return undefined;
    ex.vars.set(CREDENTIALS_STRIP, c.strip);
    stripHeaders(c, ex);
    const r = c.ref(ex.principal);
    if (!r.ok) {
      // The value is caller-controlled: log which field was refused, not what it held.
      log.warn("per-user credential path refused the caller's identity", {
        "server.name": c.server,
        "principal.field": r.field,
        ...traceFields(ex),
      });
      return reply("CREDENTIALS_SUBJECT_REFUSED", `server ${c.server}: {${r.field}} is missing or not a plain identifier`);
    }
    const ref = r.ref;
    // Hot path: a fresh cached value needs no promise (and a server-wide reference no key building).
    const hit = cache.peekFresh(ref, c.staticKey ?? refKey(ref));
    if (channels.stageEnd.hasSubscribers) ex.vars.set(STAGE_ATTRIBUTES, { source: ref.source, cache_hit: hit !== undefined });
    if (hit) return inject(c, ex, hit);
    return cache.get(ref, c.policy, { keepWarm: !c.perUser }).then(
      (s: CachedSecret) => inject(c, ex, s.values),
      (e: unknown) => fetchFailed(c, ref, e, ex),
    );
  }

  function stripHeaders(c: Compiled, ex: Exchange): void {
    const h = ex.upstreamHeaders;
    for (const k of Object.keys(h)) if (c.strip.has(k.toLowerCase())) delete h[k];
  }

  return {
    name: "credentials",
    stage: "credentials",

    // POST: per message, so credentials are fetched only when a message survived every earlier
    // stage and will really go upstream (chain/order.ts); once per exchange, the verdict shared by
    // the exchange's other messages. GET (stream) and DELETE (end session) carry no message.
    onRequest(ex: Exchange): Verdict | Promise<Verdict> {
      if (ex.httpMethod === "POST") return undefined;
      return apply(ex);
    },

    onMessage(ex: Exchange): Verdict | Promise<Verdict> {
      const done = ex.vars.get(APPLIED) as Verdict | Promise<Verdict> | typeof OK | undefined;
      if (done !== undefined) return done === OK ? undefined : (done as Verdict | Promise<Verdict>);
      const v = apply(ex);
      ex.vars.set(APPLIED, v ?? OK);
      return v;
    },

    async start(): Promise<void> {
      const issues: string[] = [];
      const jobs: Promise<void>[] = [];
      for (const c of compiled.values()) {
        if (c.perUser) continue;
        const r = c.ref(undefined);
        if (!r.ok) continue;
        const ref = r.ref;
        const job = cache.get(ref, c.policy, { keepWarm: true }).then(
          (s) => {
            const missing = c.keys.filter((k) => !s.values[k]);
            if (missing.length === 0) return;
            const msg = `servers.${c.server}.credentials: ${describeRef(ref)} has no key ${missing.join(", ")}`;
            if (c.required) issues.push(msg);
            else log.warn("backend credential lacks configured keys", { "server.name": c.server, "secret.key": missing.join(",") });
          },
          (e: unknown) => {
            const why = isSecretStoreError(e) ? `${e.kind}: ${e.message}` : "secret source failed";
            if (c.required) issues.push(`servers.${c.server}.credentials: ${describeRef(ref)}: ${why}`);
            else
              log.warn("backend credential could not be prefetched", {
                "server.name": c.server,
                "secret.ref": describeRef(ref),
                "error.type": why,
              });
          },
        );
        // Only required servers hold up the start; the others warm in the background.
        if (c.required) jobs.push(job);
      }
      await Promise.all(jobs);
      if (issues.length > 0) throw new CredentialsStartupError(issues);
    },

    close(): void {
      cache.close();
    },
  };
}
