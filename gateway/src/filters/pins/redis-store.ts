// The Redis pin store: replicas share pins, pending changes and their history in one Redis key,
// changed by optimistic transactions (WATCH/MULTI) and polled for approvals made elsewhere.

import { createClient, WatchError } from "redis";
import type { KnownTool } from "../tool-catalog/catalog.ts";
import { approve, emptyState, observe, type PinEvent, type PinState, parseState } from "./state.ts";
import { MemoryPinStore } from "./store.ts";

export interface RedisPinStoreOptions {
  /** redis:// or rediss:// URL (may carry credentials), or a unix socket path. */
  url?: string | undefined;
  socketPath?: string | undefined;
  /** Prefix of the keys: `<prefix>state` (the JSON state) and `<prefix>seq` (its event counter). */
  keyPrefix: string;
  origin: string;
  /** Poll `<prefix>seq` this often (ms) to learn changes made elsewhere; 0 = never (the CLI). */
  reloadMs: number;
  onError?: (message: string, e: unknown) => void;
}

/** Transactions retried this often when another writer changed the state in between. */
const MAX_ATTEMPTS = 50;

const nowIso = () => new Date().toISOString();

export class RedisPinStore extends MemoryPinStore {
  override readonly kind = "redis" as const;
  readonly #o: RedisPinStoreOptions;
  readonly #client: ReturnType<typeof createClient>;
  readonly #stateKey: string;
  readonly #seqKey: string;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #errorReported = false;
  #connected = false;

  private constructor(o: RedisPinStoreOptions) {
    super(o.origin);
    this.#o = o;
    this.#stateKey = `${o.keyPrefix}state`;
    this.#seqKey = `${o.keyPrefix}seq`;
    this.#client = createClient({
      ...(o.url ? { url: o.url } : {}),
      socket: {
        ...(o.socketPath ? { path: o.socketPath } : {}),
        connectTimeout: 5000,
        // At start a few attempts, then give up (the gateway must not hang starting); once connected, keep
        // trying at most every 2 s so a Redis that comes back heals the gateway by itself.
        reconnectStrategy: (retries: number, cause: Error) =>
          !this.#connected && retries >= 3 ? cause : Math.min(100 * 2 ** retries, 2000),
      },
      // Writes that cannot be made now fail (and are reported) rather than wait in an unbounded queue.
      disableOfflineQueue: true,
    });
    this.#client.on("error", (e: Error) => this.#report("pins: Redis error", e));
  }

  /** Connect and read the state. Rejects when Redis cannot be reached at start: the gateway does not start without its pins. */
  static async open(o: RedisPinStoreOptions): Promise<RedisPinStore> {
    const s = new RedisPinStore(o);
    try {
      await s.#client.connect();
      s.#connected = true;
      s.adopt(await s.#read());
    } catch (e) {
      s.#client.destroy();
      throw new Error(`pins: cannot use Redis at ${o.socketPath ?? "the configured URL"}: ${(e as Error).message}`);
    }
    if (o.reloadMs > 0) {
      s.#timer = setInterval(() => void s.#poll(), o.reloadMs);
      s.#timer.unref();
    }
    return s;
  }

  #report(message: string, e: unknown): void {
    if (this.#errorReported) return;
    this.#errorReported = true;
    this.#o.onError?.(message, e);
  }

  async #read(): Promise<PinState> {
    const text = await this.#client.get(this.#stateKey);
    if (text === null) return emptyState();
    return parseState(JSON.parse(text), `Redis key ${this.#stateKey}`);
  }

  override observe(route: string, known: KnownTool): PinEvent[] {
    const events = super.observe(route, known);
    if (events.length > 0) {
      this.unsynced.push((s) => void observe(s, route, known, this.origin, nowIso()));
      let n = 0;
      void this.#mutate(
        (s) => {
          n = this.applyUnsynced(s);
        },
        () => void this.unsynced.splice(0, n),
      ).catch((e) => this.#report("pins: could not write to Redis", e));
    }
    return events;
  }

  override approve(route: string, tool: string, hash: string | undefined, by: string): Promise<PinEvent> {
    return this.#mutate((s) => approve(s, route, tool, hash, by, this.origin, nowIso()));
  }

  override settled(): Promise<void> {
    return this.#queue;
  }

  /** Serialised optimistic transaction: WATCH the state, apply `fn` to it, write it back unless someone else did first. */
  #mutate<T>(fn: (s: PinState) => T, written?: () => void): Promise<T> {
    const run = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        await this.#client.watch(this.#stateKey);
        const s = await this.#read();
        const out = fn(s);
        try {
          await this.#client.multi().set(this.#stateKey, JSON.stringify(s)).set(this.#seqKey, String(s.seq)).exec();
        } catch (e) {
          if (e instanceof WatchError && attempt < MAX_ATTEMPTS) continue;
          throw e;
        }
        this.#errorReported = false;
        written?.();
        this.adopt(s);
        return out;
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  override sync(): Promise<void> {
    return this.#poll();
  }

  async #poll(): Promise<void> {
    try {
      const seq = Number(await this.#client.get(this.#seqKey));
      if (!Number.isFinite(seq) || seq <= this.lastSeq) return;
      const q = this.#queue;
      await q;
      const s = await this.#read();
      if (this.#queue === q) this.adopt(s);
      this.#errorReported = false;
    } catch (e) {
      this.#report("pins: could not read Redis; keeping the last good state", e);
    }
  }

  override async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#queue;
    await super.close();
    await this.#client.close().catch(() => this.#client.destroy());
  }
}
