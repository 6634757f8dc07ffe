// Where pins live: in memory (this process only) or in a JSON file that several gateways and the
// `mcp-gateway tools` CLI share. Reads on the request path are synchronous (an in-memory snapshot).

import { randomBytes } from "node:crypto";
import { open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import type { KnownTool } from "../tool-catalog/catalog.ts";
import { approve, emptyState, observe, type PendingChange, type PinEvent, type PinRecord, type PinState, parseState } from "./state.ts";

export interface PinStore {
  readonly kind: "memory" | "file" | "redis";
  pinned(route: string, tool: string): PinRecord | undefined;
  pending(route: string, tool: string): PendingChange | undefined;
  /** A backend served `known`: pin on first sight or record a change. Events are returned at once; persisting follows. */
  observe(route: string, known: KnownTool): PinEvent[];
  approve(route: string, tool: string, hash: string | undefined, by: string): Promise<PinEvent>;
  /** Events recorded by other writers (the CLI's approvals, other gateways), as this store learns of them. */
  onExternalEvent(listener: (e: PinEvent) => void): void;
  /** Persisting finished (tests, shutdown). */
  settled(): Promise<void>;
  /**
   * Shared stores (file, Redis): read what other writers wrote now instead of at the next poll. Called before
   * a tool is pinned on first sight here, so a replica never pins what another already saw differently.
   */
  sync(): Promise<void>;
  snapshot(): PinState;
  close(): Promise<void>;
}

const nowIso = () => new Date().toISOString();

export class MemoryPinStore implements PinStore {
  readonly kind: PinStore["kind"] = "memory";
  protected state: PinState = emptyState();
  protected readonly origin: string;
  protected readonly listeners = new Set<(e: PinEvent) => void>();
  /** Highest event sequence number this store has taken in (shared stores). */
  protected lastSeq = 0;
  /**
   * Observations made in memory and not yet written to the shared store, in order. They are
   * idempotent, so they are re-applied to every state read back until they are written: a state read
   * while they wait never makes this process forget a pin it has already enforced.
   */
  protected readonly unsynced: Array<(s: PinState) => void> = [];

  constructor(origin: string) {
    this.origin = origin;
  }

  pinned(route: string, tool: string): PinRecord | undefined {
    return this.state.pins[route]?.[tool];
  }

  pending(route: string, tool: string): PendingChange | undefined {
    return this.state.pending[route]?.[tool];
  }

  observe(route: string, known: KnownTool): PinEvent[] {
    return observe(this.state, route, known, this.origin, nowIso());
  }

  async approve(route: string, tool: string, hash: string | undefined, by: string): Promise<PinEvent> {
    return approve(this.state, route, tool, hash, by, this.origin, nowIso());
  }

  onExternalEvent(listener: (e: PinEvent) => void): void {
    this.listeners.add(listener);
  }

  async settled(): Promise<void> {}

  async sync(): Promise<void> {}

  snapshot(): PinState {
    return structuredClone(this.state);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** Take a state read from the shared store as ours, and tell listeners about the events other writers recorded. */
  protected adopt(s: PinState): void {
    this.state = s;
    for (const e of s.history) {
      if (e.seq > this.lastSeq && e.origin !== this.origin) for (const l of this.listeners) l(e);
    }
    this.lastSeq = Math.max(this.lastSeq, s.seq);
    for (const op of this.unsynced) op(this.state);
  }

  /** Apply the waiting observations to `s` (about to be written); returns how many, to drop once written. */
  protected applyUnsynced(s: PinState): number {
    const n = this.unsynced.length;
    for (let i = 0; i < n; i++) this.unsynced[i]!(s);
    return n;
  }
}

export interface FilePinStoreOptions {
  path: string;
  origin: string;
  /** Re-read the file this often to learn approvals made elsewhere (ms); 0 = never (the CLI). */
  reloadMs: number;
  /** Give up taking the lock after this long (ms). */
  lockTimeoutMs?: number;
  onError?: (message: string, e: unknown) => void;
}

/** A lock older than this is taken to be left by a writer that died. */
const STALE_LOCK_MS = 10_000;

/**
 * The file store. Every change is a read-modify-write of the whole file under an exclusive lock file
 * (`<path>.lock`, O_EXCL) and lands by rename, so readers never see half a file and concurrent writers
 * (gateways, the CLI) never lose each other's changes.
 */
export class FilePinStore extends MemoryPinStore {
  override readonly kind = "file" as const;
  readonly path: string;
  readonly #o: FilePinStoreOptions;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #seen = { mtimeMs: -1, size: -1 };

  private constructor(o: FilePinStoreOptions) {
    super(o.origin);
    this.path = o.path;
    this.#o = o;
  }

  /** Read the file (a missing file is an empty store). Throws PinStateError on a file that is not a pin file. */
  static async open(o: FilePinStoreOptions): Promise<FilePinStore> {
    const s = new FilePinStore(o);
    s.state = await s.#read();
    s.lastSeq = s.state.seq;
    if (o.reloadMs > 0) {
      s.#timer = setInterval(() => void s.#poll(), o.reloadMs);
      s.#timer.unref();
    }
    return s;
  }

  async #read(): Promise<PinState> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return emptyState();
      throw e;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Error(`pin file ${this.path} is not JSON: ${(e as Error).message}`);
    }
    return parseState(v, `pin file ${this.path}`);
  }

  override observe(route: string, known: KnownTool): PinEvent[] {
    const events = super.observe(route, known);
    // Re-applied to the file's current state under the lock: another writer may have pinned first.
    if (events.length > 0) {
      this.unsynced.push((s) => void observe(s, route, known, this.origin, nowIso()));
      let n = 0;
      void this.#mutate(
        (s) => {
          n = this.applyUnsynced(s);
        },
        () => void this.unsynced.splice(0, n),
      ).catch((e) => this.#o.onError?.("pins: could not write the pin file", e));
    }
    return events;
  }

  override approve(route: string, tool: string, hash: string | undefined, by: string): Promise<PinEvent> {
    return this.#mutate((s) => approve(s, route, tool, hash, by, this.origin, nowIso()));
  }

  override settled(): Promise<void> {
    return this.#queue;
  }

  /** Serialised read-modify-write under the lock; the in-memory snapshot becomes the written state. */
  #mutate<T>(fn: (s: PinState) => T, written?: () => void): Promise<T> {
    const run = async (): Promise<T> => {
      const release = await this.#lock();
      try {
        const s = await this.#read();
        const out = fn(s);
        const tmp = `${this.path}.tmp.${process.pid}.${randomBytes(4).toString("hex")}`;
        await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
        await rename(tmp, this.path);
        written?.();
        this.adopt(s);
        return out;
      } finally {
        await release();
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  async #lock(): Promise<() => Promise<void>> {
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + (this.#o.lockTimeoutMs ?? 5000);
    // A token of ours in the lock: release removes the lock only while it is still ours (a writer that
    // took over a lock it judged stale must not lose its own to us).
    const token = `${process.pid}.${randomBytes(8).toString("hex")}`;
    for (let attempt = 0; ; attempt++) {
      try {
        const h = await open(lock, "wx", 0o600);
        await h.writeFile(token);
        await h.close();
        return async () => {
          if ((await readFile(lock, "utf8").catch(() => "")) === token) await unlink(lock).catch(() => {});
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        const st = await stat(lock).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) await unlink(lock).catch(() => {});
        if (Date.now() > deadline) throw new Error(`pin file ${this.path} is locked (${lock}); another writer holds it`);
        await new Promise((r) => setTimeout(r, Math.min(10 * (attempt + 1), 100)));
      }
    }
  }

  async #poll(): Promise<void> {
    try {
      const st = await stat(this.path).catch(() => undefined);
      if (!st || (st.mtimeMs === this.#seen.mtimeMs && st.size === this.#seen.size)) return;
      this.#seen = { mtimeMs: st.mtimeMs, size: st.size };
      // Wait for our own writes first, so a reload never rolls back a change still being written.
      const q = this.#queue;
      await q;
      const s = await this.#read();
      // A change of ours was queued meanwhile: its write adopts the file's state, this read is stale.
      if (this.#queue === q) this.adopt(s);
    } catch (e) {
      this.#o.onError?.("pins: could not re-read the pin file; keeping the last good state", e);
    }
  }

  override sync(): Promise<void> {
    return this.#poll();
  }

  override async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#queue;
    await super.close();
  }
}
