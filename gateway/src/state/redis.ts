// The shared state store: one node-redis connection per gateway, used by the session revocations and
// the limits stage when replicas must agree. Every command fails fast (never queues) when Redis is away.

import { createRequire } from "node:module";
import type { createClient } from "redis";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";

export interface RedisSettings {
  /** redis:// or rediss:// URL (may carry credentials: a secret). */
  url?: string | undefined;
  /** Unix socket path, instead of a URL. */
  socketPath?: string | undefined;
  /** Prefix of every key the gateway writes. */
  keyPrefix: string;
  /** Budget of one command (ms); past it the caller gets STATE_STORE_UNAVAILABLE. */
  commandTimeoutMs: number;
}

export type RedisConnection = ReturnType<typeof createClient>;

// node-redis (CommonJS, ~500 modules, ~25 MB resident) is loaded by the first store: a gateway whose config
// has no `redis` section never loads it (docs/design/memory.md).
const require = createRequire(import.meta.url);
const redisCreateClient = (): typeof createClient => (require("redis") as { createClient: typeof createClient }).createClient;

export class SharedStore {
  readonly prefix: string;
  readonly client: RedisConnection;
  readonly #timeoutMs: number;
  readonly #connecting: Promise<unknown>;
  #warned = false;

  constructor(s: RedisSettings, logger: Logger) {
    this.prefix = s.keyPrefix;
    this.#timeoutMs = s.commandTimeoutMs;
    this.client = redisCreateClient()({
      ...(s.url ? { url: s.url } : {}),
      socket: {
        ...(s.socketPath ? { path: s.socketPath } : {}),
        connectTimeout: 5000,
        // Keep trying, at most every 2 s: the store coming back must heal the gateway by itself.
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000),
      },
      // A command sent while disconnected fails at once (fail closed) instead of waiting in a queue.
      disableOfflineQueue: true,
    });
    this.client.on("error", (e: Error) => {
      if (!this.#warned) logger.warn("shared state store (Redis) error", { "error.message": e.message });
      this.#warned = true;
    });
    this.client.on("ready", () => {
      if (this.#warned) logger.info("shared state store (Redis) reachable again");
      this.#warned = false;
    });
    this.#connecting = this.client.connect().catch(() => {});
  }

  /** Resolves once the first connection attempt ended (connected or not: later commands fail closed). */
  async ready(): Promise<void> {
    await this.#connecting;
  }

  /** Run one command within the budget; any failure is STATE_STORE_UNAVAILABLE. */
  async run<T>(f: (c: RedisConnection) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        f(this.client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        }),
      ]);
    } catch (e) {
      throw new GatewayError("STATE_STORE_UNAVAILABLE", undefined, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#connecting;
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
    else this.client.destroy();
  }
}
