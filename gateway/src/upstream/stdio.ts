// stdio backends: one child process per downstream session, and one per owner for 2026-07-28 callers
// (never one child's output shared between sessions or principals), newline-delimited JSON-RPC on
// stdin/stdout, stderr to the gateway log. Children are process-local: the sealed session binds to
// "<instance>:<key>", so another replica answers 404.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import type { JsonObject, RpcMessage } from "../codec/jsonrpc.ts";
import { isObject } from "../codec/jsonrpc.ts";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import {
  type BackendEra,
  type CallerState,
  type EraMemory,
  LegacyCallerSession,
  ModernBridge,
  newCallerState,
  type Prepared,
  prepareForModern,
} from "./backend-era.ts";
import { ChannelSession, localBinding, localKey, MessageChannel } from "./channel.ts";
import { readBoundedLines } from "./line-reader.ts";
import type { SessionState, Upstream, UpstreamCallContext, UpstreamSession } from "./types.ts";

export interface StdioOptions {
  server: string;
  command: string;
  args: string[];
  /** Environment from config (revealed). The gateway's own environment is not inherited. */
  env: Record<string, string>;
  inheritEnv: string[];
  cwd: string | undefined;
  idleTimeoutMs: number;
  logger: Logger;
  /** Max line length from the child (bytes); longer lines are a protocol error. */
  maxLineBytes?: number;
  /** Children of this route at once, and per caller; when full the oldest idle one is reaped, else CHILD_LIMIT. */
  maxChildren?: number;
  maxChildrenPerPrincipal?: number;
}

/** Default bound of one line (one JSON-RPC message) from a child. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const BASE_ENV = ["PATH", "HOME", "LANG", "TZ", "SYSTEMROOT", "TMPDIR", "NODE_OPTIONS"];

class StdioChild {
  readonly channel: MessageChannel;
  /** Its 2025-era caller's translation state (a per-session child of a 2026-07-28-only backend). */
  readonly caller: CallerState = newCallerState();
  readonly child: ChildProcess;
  readonly key: string;
  owner: string | undefined;
  constructor(opts: StdioOptions, extraEnv: Record<string, string>, key: string, shared: boolean, onExit: () => void) {
    this.key = key;
    const env: Record<string, string> = {};
    for (const k of [...BASE_ENV, ...opts.inheritEnv]) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    Object.assign(env, opts.env, extraEnv);
    const log = opts.logger;
    const child = spawn(opts.command, opts.args, { env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"], windowsHide: true });
    this.child = child;
    log.info("stdio backend spawned", {
      "mcp_gateway.server": opts.server,
      "process.pid": child.pid,
      "process.command": opts.command,
      session: key,
    });
    this.channel = new MessageChannel(
      {
        send: (m) =>
          new Promise<void>((resolve, reject) => {
            const stdin = child.stdin;
            if (!stdin || stdin.destroyed || !stdin.writable) {
              reject(new GatewayError("UPSTREAM_CLOSED"));
              return;
            }
            stdin.write(`${JSON.stringify(m)}\n`, (err) => (err ? reject(err) : resolve()));
          }),
      },
      shared,
    );
    this.channel.onDrop = (reason) => log.debug("stdio backend message dropped", { "mcp_gateway.server": opts.server, reason });
    this.channel.onOverflow = () =>
      log.warn("no stream open for the backend's unsolicited messages and the buffer is full: dropping the oldest", {
        "mcp_gateway.server": opts.server,
        session: key,
      });
    child.stdin?.on("error", () => {}); // EPIPE after exit is reported through 'exit'
    const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    const onLine = (line: string) => {
      if (line.length === 0) return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        log.warn("stdio backend wrote a line that is not JSON", { "mcp_gateway.server": opts.server, length: line.length });
        return;
      }
      const items = Array.isArray(v) ? v : [v];
      for (const item of items) {
        if (!isObject(item) || item.jsonrpc !== "2.0") {
          log.warn("stdio backend wrote a value that is not JSON-RPC", { "mcp_gateway.server": opts.server });
          continue;
        }
        this.channel.receive(item as JsonObject, Array.isArray(v) ? undefined : line);
      }
    };
    readBoundedLines(child.stdout!, maxLine, onLine, () => {
      // A line past the bound is never buffered whole: the message is dropped, every request waiting on
      // this child is answered with the documented error, and the child is ended.
      log.warn("stdio backend wrote a line longer than the limit; the child is ended", {
        "mcp_gateway.server": opts.server,
        "process.pid": child.pid,
        limit: maxLine,
      });
      this.channel.close(new GatewayError("UPSTREAM_FRAME_TOO_LARGE", `a line longer than ${maxLine} bytes`));
      child.kill("SIGKILL");
    });
    const err = createInterface({ input: child.stderr!, crlfDelay: Number.POSITIVE_INFINITY });
    err.on("line", (line) =>
      log.info("stdio backend stderr", { "mcp_gateway.server": opts.server, "process.pid": child.pid, line: line.slice(0, 4096) }),
    );
    child.on("error", (e) => {
      log.error("stdio backend failed", { "mcp_gateway.server": opts.server, "error.code": (e as NodeJS.ErrnoException).code });
      this.channel.close(
        new GatewayError("UPSTREAM_UNAVAILABLE", `cannot start backend process (${(e as NodeJS.ErrnoException).code ?? "error"})`),
      );
      onExit();
    });
    child.on("exit", (code, signal) => {
      log.info("stdio backend exited", { "mcp_gateway.server": opts.server, "process.pid": child.pid, "process.exit_code": code, signal });
      this.channel.close(new GatewayError("UPSTREAM_CLOSED", `backend process exited (${signal ?? `code ${code}`})`));
      onExit();
    });
  }

  /** Resolves when the process is running (or throws if it could not start). */
  started(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.child.pid !== undefined) {
        resolve();
        return;
      }
      this.child.once("spawn", () => resolve());
      this.child.once("error", (e) =>
        reject(new GatewayError("UPSTREAM_UNAVAILABLE", `cannot start backend process (${(e as NodeJS.ErrnoException).code ?? "error"})`)),
      );
    });
  }

  kill(): void {
    const c = this.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.stdin?.end();
    c.kill("SIGTERM");
    const t = setTimeout(() => {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }, 2000);
    t.unref();
  }
}

/** The child that serves one owner's 2026-07-28 requests, ready once its era is known. */
interface ModernChild {
  readonly child: StdioChild;
  /** Its era, and for a 2025-only backend the session the gateway holds for the owner. */
  readonly ready: Promise<{ prepared: Prepared; bridge: ModernBridge | undefined }>;
}

export class StdioUpstream implements Upstream {
  readonly transport = "stdio" as const;
  readonly address: string;
  readonly #opts: StdioOptions;
  /** One child per downstream session (2024-11-05 … 2025-11-25). */
  readonly #children = new Map<string, StdioChild>();
  /** One child per owner for 2026-07-28 callers: never one child for two principals (issue 10, bug 4). */
  readonly #modern = new Map<string, ModernChild>();
  /** What this route's backend speaks, learnt from the first child (server/discover, else initialize). */
  readonly #memory: EraMemory = { era: undefined };
  #sweeper: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(opts: StdioOptions) {
    this.#opts = opts;
    this.address = opts.command;
    const every = Math.max(50, Math.min(opts.idleTimeoutMs / 4, 30_000));
    this.#sweeper = setInterval(() => this.#sweep(), every);
    this.#sweeper.unref();
  }

  /** Children of sessions (the owners' 2026-07-28 children are counted by `modernSize`). */
  get size(): number {
    return this.#children.size;
  }
  get modernSize(): number {
    return this.#modern.size;
  }
  /** The backend's era once learnt (undefined before the first 2026-07-28 request). */
  get era(): BackendEra | undefined {
    return this.#memory.era;
  }

  /**
   * Before spawning for `owner`: at the per-caller cap, reap that caller's oldest idle child; at the route
   * cap, anyone's oldest idle child. Nothing idle to reap → CHILD_LIMIT (no child is ever killed mid-request).
   */
  #makeRoom(owner: string | undefined): void {
    const perOwner = this.#opts.maxChildrenPerPrincipal;
    const perRoute = this.#opts.maxChildren;
    if (perOwner !== undefined && owner !== undefined) {
      const mine = [...this.#children.values()].filter((c) => c.owner === owner);
      if (mine.length >= perOwner && !this.#reapOldestIdle(mine)) {
        throw new GatewayError("CHILD_LIMIT", `${perOwner} backend processes for this caller, none idle`);
      }
    }
    // The route cap counts the owners' 2026-07-28 children too (one each), so N principals cannot spawn N more.
    const total = this.#children.size + this.#modern.size;
    if (perRoute !== undefined && total >= perRoute && !this.#reapOldestIdle([...this.#children.values()])) {
      throw new GatewayError("CHILD_LIMIT", `${perRoute} backend processes on this route, none idle`);
    }
  }

  #reapOldestIdle(candidates: StdioChild[]): boolean {
    let oldest: StdioChild | undefined;
    for (const c of candidates) {
      if (c.channel.inflight > 0) continue;
      if (!oldest || c.channel.lastActivity < oldest.channel.lastActivity) oldest = c;
    }
    if (!oldest) return false;
    this.#opts.logger.info("stdio backend reaped to make room (oldest idle)", {
      "mcp_gateway.server": this.#opts.server,
      session: oldest.key,
    });
    this.#children.delete(oldest.key);
    oldest.channel.close(new GatewayError("SESSION_NOT_FOUND", "the backend process was reaped to make room"));
    oldest.kill();
    return true;
  }

  /** Idle children stop, per session and per owner alike (issue 10, bug 8); a busy one never does. */
  #sweep(): void {
    const now = Date.now();
    const idle = (c: StdioChild) => !c.channel.busy && now - c.channel.lastActivity > this.#opts.idleTimeoutMs;
    for (const c of this.#children.values()) {
      if (idle(c)) {
        this.#opts.logger.info("stdio backend idle, stopping", { "mcp_gateway.server": this.#opts.server, session: c.key });
        c.kill();
      }
    }
    for (const [owner, m] of this.#modern) {
      if (idle(m.child)) {
        this.#opts.logger.info("stdio backend idle, stopping", { "mcp_gateway.server": this.#opts.server, session: m.child.key });
        this.#modern.delete(owner);
        m.child.kill();
      }
    }
  }

  async connect(ctx: UpstreamCallContext): Promise<UpstreamSession> {
    if (this.#closing) throw new GatewayError("SHUTTING_DOWN");
    this.#makeRoom(ctx.owner);
    const key = randomBytes(9).toString("base64url");
    const child = new StdioChild(this.#opts, ctx.env, key, false, () => this.#children.delete(key));
    child.owner = ctx.owner;
    this.#children.set(key, child);
    await child.started();
    return this.#session(child, localBinding(key));
  }

  attach(state: SessionState): UpstreamSession | undefined {
    const key = localKey(state.bind);
    const child = key === undefined ? undefined : this.#children.get(key);
    if (!child || child.channel.closed) return undefined;
    return this.#session(child, state.bind);
  }

  /** Ending the session forgets the child and stops it. */
  #session(child: StdioChild, bind: string | undefined): UpstreamSession {
    const session = new ChannelSession(child.channel, bind, () => {
      this.#children.delete(child.key);
      child.channel.close(new GatewayError("SESSION_NOT_FOUND", "session ended"));
      child.kill();
    });
    // A 2025-era caller of a backend that speaks only 2026-07-28 is translated (backend-era.ts).
    return new LegacyCallerSession(session, child.channel, child.caller, this.#memory);
  }

  /**
   * 2026-07-28 has no sessions: one child per owner (ids and progress tokens rewritten, so the owner's
   * concurrent requests never collide). A 2025-only backend is initialized by the gateway and that
   * session is held for the owner (backend-era.ts). An exited or idle child is replaced on next use.
   */
  async stateless(ctx: UpstreamCallContext, messages: readonly RpcMessage[]): Promise<UpstreamSession> {
    if (this.#closing) throw new GatewayError("SHUTTING_DOWN");
    const owner = ctx.owner ?? "";
    let m = this.#modern.get(owner);
    if (!m || m.child.channel.closed) {
      this.#makeRoom(undefined);
      const key = `modern-${randomBytes(6).toString("base64url")}`;
      const child: StdioChild = new StdioChild(this.#opts, ctx.env, key, true, () => {
        if (this.#modern.get(owner)?.child === child) this.#modern.delete(owner);
      });
      const ready = child.started().then(async () => {
        const prepared = await prepareForModern(child.channel, messages, this.#memory.era, ctx.signal);
        this.#memory.era = prepared.era;
        const bridge = prepared.initialize ? new ModernBridge(child.channel, prepared.initialize) : undefined;
        return { prepared, bridge };
      });
      m = { child, ready };
      this.#modern.set(owner, m);
      ready.catch(() => {
        // A child that could not be prepared serves nobody: the next request starts afresh.
        if (this.#modern.get(owner) === m) this.#modern.delete(owner);
        child.kill();
      });
    }
    const { bridge } = await m.ready;
    // The owner's child outlives any one request: "ending" a stateless exchange leaves it running.
    const session = new ChannelSession(m.child.channel, undefined, () => {});
    return bridge ? bridge.session(session) : session;
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    const all = [...this.#children.values(), ...[...this.#modern.values()].map((m) => m.child)];
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.child.exitCode !== null || c.child.signalCode !== null) return resolve();
            c.child.once("exit", () => resolve());
            c.kill();
          }),
      ),
    );
    this.#children.clear();
    this.#modern.clear();
  }
}
