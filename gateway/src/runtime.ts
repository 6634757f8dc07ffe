// The running gateway process: one MCP socket and the admin listener, a gateway "generation" behind them that
// a reload (SIGHUP, file change) rebuilds and swaps, and the graceful drain on SIGTERM. The CLI runs this.

import { createHash } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, resolve } from "node:path";
import { type RunningGateway, startConfiguredGateway } from "./assemble.ts";
import { ConfigError } from "./config/load.ts";
import { checkReferencedFiles } from "./config/paths.ts";
import type { GatewayConfig, ServerConfig } from "./config/schema.ts";
import { isSecret } from "./config/secret.ts";
import { type AdminServer, startAdminServer } from "./listener/admin-server.ts";
import type { AuditRecord } from "./log/audit.ts";
import type { Logger } from "./log/logger.ts";
import { loadConfigFileWithVault } from "./secrets/load-with-vault.ts";
import type { Upstream } from "./upstream/types.ts";

export interface RuntimeOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Reload when the config file changes (default true). SIGHUP always reloads when `signals` is on. */
  watch?: boolean;
  /** Handle SIGHUP (reload) and SIGTERM/SIGINT (drain, exit). Default false (library use, tests). */
  signals?: boolean;
  /** Coalesce bursts of file events (editors write in several steps) into one reload (ms, default 200). */
  debounceMs?: number;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly at: string;
  /** The `validate` report when refused. */
  readonly errors: string[];
  /** Routes added, removed, changed (rebuilt) and kept (same upstream: their sessions, stdio children included, survive). */
  readonly routes?: { added: string[]; removed: string[]; changed: string[]; kept: string[] };
  readonly sha256?: string;
}

export interface Runtime {
  readonly url: string;
  readonly adminUrl: string | undefined;
  readonly current: RunningGateway;
  /** Read the file again; on success swap generations, else keep the running one. */
  reload(): Promise<ReloadResult>;
  /** Drain: stop accepting, finish requests in flight (bounded by admin.drainTimeoutMs), close streams, stop. */
  close(): Promise<void>;
}

/** A deep, secret-revealing canonical form, only ever compared in memory (never logged). */
function canonical(v: unknown): unknown {
  if (isSecret(v)) return { $secret: v.reveal() };
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
const sameServer = (a: ServerConfig, b: ServerConfig) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** An upstream shared by consecutive generations: closed when the last generation using it lets go. */
class SharedUpstream {
  refs = 0;
  readonly inner: Upstream;
  readonly config: ServerConfig;
  constructor(inner: Upstream, config: ServerConfig) {
    this.inner = inner;
    this.config = config;
  }
  lease(): Upstream {
    this.refs++;
    let released = false;
    const inner = this.inner;
    return {
      transport: inner.transport,
      address: inner.address,
      connect: (ctx) => inner.connect(ctx),
      attach: (state) => inner.attach(state),
      stateless: (ctx, messages) => inner.stateless(ctx, messages),
      close: async () => {
        if (released) return;
        released = true;
        if (--this.refs === 0) await inner.close();
      },
    };
  }
}

interface Generation {
  readonly running: RunningGateway;
  readonly config: GatewayConfig;
  readonly sha256: string;
  readonly loadedAt: string;
  /** Requests that will end by themselves (everything but long-lived GET streams). */
  inflight: number;
}

async function loadChecked(file: string, opts: RuntimeOptions): Promise<{ config: GatewayConfig; sha256: string }> {
  const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
  const config = await loadConfigFileWithVault(file, { env: opts.env, logger: opts.logger });
  const missing = checkReferencedFiles(config);
  if (missing.length) throw new ConfigError(`${file}: referenced files`, missing);
  return { config, sha256 };
}

const errorsOf = (e: unknown) => (e instanceof ConfigError ? [e.message.split("\n")[0]!, ...e.issues] : [(e as Error).message]);

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

export async function startRuntime(configFile: string, opts: RuntimeOptions): Promise<Runtime> {
  const file = resolve(configFile);
  const baseDir = dirname(file);
  const logger = opts.logger;
  const first = await loadChecked(file, opts);
  const shared = new Map<string, SharedUpstream>();
  let draining = false;
  let lastReload: ReloadResult | undefined;

  // The MCP socket and its HTTP server stay for the life of the process; each request goes to the generation
  // current when it arrives (a kept-alive connection moves to the new config with its next request).
  // Until the first generation is built (it needs this socket's URL), requests get 503 like a gateway not ready.
  let current: Generation | undefined;
  const front: Server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => {
    const gen = current;
    if (!gen) {
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" }).end('{"status":"starting"}');
      return;
    }
    if (req.method !== "GET") {
      gen.inflight++;
      res.once("close", () => gen.inflight--);
    }
    gen.running.gateway.server.emit("request", req, res);
  });
  await new Promise<void>((res, rej) => {
    front.once("error", rej);
    front.listen(first.config.listen.port, first.config.listen.host, () => {
      front.off("error", rej);
      res();
    });
  });
  const addr = front.address() as AddressInfo;
  const url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;

  async function startGeneration(config: GatewayConfig, sha256: string): Promise<Generation> {
    const leased = new Map<string, SharedUpstream>();
    const running = await startConfiguredGateway(config, {
      baseDir,
      logger,
      ...(opts.env ? { env: opts.env } : {}),
      gateway: {
        adoptUrl: url,
        upstreamFor: (name, s, build) => {
          let su = shared.get(name);
          if (!su || !sameServer(su.config, s)) su = new SharedUpstream(build(), s);
          leased.set(name, su);
          return su.lease();
        },
      },
    });
    for (const [name, su] of leased) shared.set(name, su);
    return { running, config, sha256, loadedAt: new Date().toISOString(), inflight: 0 };
  }

  let now: Generation;
  try {
    now = await startGeneration(first.config, first.sha256);
  } catch (e) {
    await new Promise<void>((r) => front.close(() => r()));
    throw e;
  }
  current = now;
  /** The generation serving now (set above, replaced by a reload). */
  const cur = (): Generation => current ?? now;

  /** Let a generation's requests finish (bounded), then close it and whatever connections it still holds. */
  async function retire(gen: Generation): Promise<void> {
    await waitFor(() => gen.inflight === 0, gen.config.admin.drainTimeoutMs);
    await gen.running.close();
  }

  let admin: AdminServer | undefined;
  try {
    admin = first.config.admin.enabled
      ? await startAdminServer(first.config.admin, {
          ready: () => !draining,
          metrics: () => cur().running.metricsHandler,
          status: () => ({
            pid: process.pid,
            file,
            sha256: cur().sha256,
            loadedAt: cur().loadedAt,
            servers: Object.keys(cur().config.servers),
            draining,
            lastReload: lastReload ?? null,
          }),
        })
      : undefined;
  } catch (e) {
    // The admin port is taken (or refused): nothing may stay running.
    await now.running.close();
    await new Promise<void>((r) => front.close(() => r()));
    throw e;
  }

  function audit(gen: Generation, r: ReloadResult) {
    const rec = {
      "@timestamp": r.at,
      "ecs.version": "8.11.0",
      "event.kind": "event",
      "event.dataset": "mcp_gateway.audit",
      "event.action": "config.reload",
      "event.outcome": r.ok ? "success" : "failure",
      "service.name": gen.config.telemetry.serviceName,
      "file.path": file,
      "file.hash.sha256": r.sha256,
      "mcp_gateway.reload.errors": r.errors.length ? r.errors : undefined,
      "mcp_gateway.reload.routes": r.routes,
    };
    gen.running.audit?.write(rec as unknown as AuditRecord);
  }

  const settle = (r: ReloadResult): ReloadResult => {
    lastReload = r;
    return r;
  };
  let reloading: Promise<ReloadResult> | undefined;
  async function doReload(): Promise<ReloadResult> {
    const at = new Date().toISOString();
    const old = cur();
    let next: { config: GatewayConfig; sha256: string };
    try {
      next = await loadChecked(file, opts);
      // The sockets and the admin listener stay: changing them needs a restart.
      const fixed: string[] = [];
      if (JSON.stringify(next.config.listen) !== JSON.stringify(old.config.listen)) fixed.push("listen: changing it needs a restart");
      if (JSON.stringify(canonical(next.config.admin)) !== JSON.stringify(canonical(old.config.admin)))
        fixed.push("admin: changing it needs a restart");
      if (fixed.length) throw new ConfigError(`${file}: not reloadable`, fixed);
    } catch (e) {
      const r: ReloadResult = { ok: false, at, errors: errorsOf(e) };
      logger.error("config reload refused; the running config stays", {
        "event.action": "config.reload",
        "error.message": r.errors.join("; "),
      });
      audit(old, r);
      return settle(r);
    }
    if (next.sha256 === old.sha256) return settle({ ok: true, at, errors: [], sha256: next.sha256, routes: undefined });
    let gen: Generation;
    try {
      gen = await startGeneration(next.config, next.sha256);
    } catch (e) {
      // A stage could not start (policy bundle, Vault …): its close released what it leased; `shared` is untouched.
      const r: ReloadResult = { ok: false, at, errors: [`cannot start the new config: ${(e as Error).message}`] };
      logger.error("config reload failed to start; the running config stays", {
        "event.action": "config.reload",
        "error.message": r.errors[0],
      });
      audit(old, r);
      return settle(r);
    }
    const before = old.config.servers;
    const after = next.config.servers;
    const routes = {
      added: Object.keys(after).filter((n) => !(n in before)),
      removed: Object.keys(before).filter((n) => !(n in after)),
      changed: Object.keys(after).filter((n) => n in before && !sameServer(before[n]!, after[n]!)),
      kept: Object.keys(after).filter((n) => n in before && sameServer(before[n]!, after[n]!)),
    };
    for (const n of routes.removed) shared.delete(n);
    current = gen;
    const r: ReloadResult = { ok: true, at, errors: [], routes, sha256: next.sha256 };
    logger.info("config reloaded", { "event.action": "config.reload", ...routes });
    audit(gen, r);
    // The old generation finishes what it has, in the background; its kept upstreams live on in `gen`.
    void retire(old).catch((e) => logger.warn("closing the previous config generation failed", { "error.message": (e as Error).message }));
    return settle(r);
  }
  const reload = () => {
    // One reload at a time; a request during one waits for it and then reads the file again.
    const run = (reloading ?? Promise.resolve()).then(doReload, doReload);
    reloading = run;
    return run;
  };

  let watcher: FSWatcher | undefined;
  if (opts.watch ?? true) {
    let timer: NodeJS.Timeout | undefined;
    // Watch the folder: editors and `kubectl` ConfigMap updates replace the file (rename), which a file watch misses.
    watcher = watch(baseDir, (_event, name) => {
      if (name && resolve(baseDir, name.toString()) !== file && !name.toString().startsWith("..")) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), opts.debounceMs ?? 200);
    });
    watcher.unref();
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      watcher?.close();
      // Stop accepting; requests in flight finish (bounded); then streams close and upstreams stop.
      const closed = new Promise<void>((r) => front.close(() => r()));
      front.closeIdleConnections();
      await retire(cur());
      // Whatever is still open (long-lived streams were closed by the generation) is cut now.
      front.closeAllConnections();
      await closed;
      await admin?.close();
    })();
    return closing;
  };

  if (opts.signals) {
    process.on("SIGHUP", () => void reload());
    const stop = (signal: string) => {
      logger.info("draining", { signal });
      void close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  }

  return {
    url,
    adminUrl: admin?.url,
    get current() {
      return cur().running;
    },
    reload,
    close,
  };
}
