// Batched line writers for the audit sink: a stream (stdout) or a file rotated by size. Lines are queued
// and written once per event-loop turn, so the request path never does synchronous I/O (invariant 7).

import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import type { Writable } from "node:stream";

export interface LineWriter {
  write(line: string): void;
  /** Resolves when everything queued so far is written. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Lines dropped because the queue was full (the disk or pipe could not keep up). */
  readonly dropped: number;
}

export interface QueueLimits {
  /** Queued bytes beyond which new lines are dropped (and counted). Default 64 MiB. */
  maxQueuedBytes?: number;
}

abstract class BatchedWriter implements LineWriter {
  #queue: string[] = [];
  #queuedBytes = 0;
  #scheduled = false;
  #draining: Promise<void> = Promise.resolve();
  #dropped = 0;
  #closed = false;
  #inFlight = false;
  readonly #max: number;

  constructor(limits: QueueLimits) {
    this.#max = limits.maxQueuedBytes ?? 64 * 1024 * 1024;
  }

  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    if (this.#queuedBytes + line.length > this.#max) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#kick());
    }
  }

  #kick(): void {
    this.#scheduled = false;
    // One write at a time: lines queued while it is in flight go out together in the next one, so under
    // load there are few large writes instead of one per event-loop turn (each write is a system call).
    if (this.#inFlight || this.#queue.length === 0) return;
    const batch = this.#queue.join("");
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#inFlight = true;
    this.#draining = this.writeChunk(batch)
      .catch((e: unknown) => this.onError(e))
      .finally(() => {
        this.#inFlight = false;
        this.#kick();
      });
  }

  /** Resolves when every line queued before the call is written. */
  async flush(): Promise<void> {
    // The write in flight holds older lines; when it ends it starts the next batch, which holds ours.
    if (this.#inFlight) await this.#draining;
    this.#kick();
    await this.#draining;
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    await this.onClose();
  }

  protected abstract writeChunk(chunk: string): Promise<void>;
  protected abstract onClose(): Promise<void>;
  protected onError(e: unknown): void {
    process.emitWarning(`audit sink write failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export class StreamLineWriter extends BatchedWriter {
  readonly #stream: Pick<Writable, "write">;
  constructor(stream: Pick<Writable, "write">, limits: QueueLimits = {}) {
    super(limits);
    this.#stream = stream;
  }
  protected writeChunk(chunk: string): Promise<void> {
    return new Promise((resolve) => {
      // Below the high-water mark the chunk is accepted at once; otherwise wait for the stream to take
      // it (backpressure). Errors surface on the stream itself.
      if (this.#stream.write(chunk, () => resolve())) resolve();
    });
  }
  protected async onClose(): Promise<void> {}
}

export interface RotationOptions extends QueueLimits {
  path: string;
  /** Rotate when the file would exceed this size. */
  maxBytes: number;
  /** Rotated files kept: path.1 (newest) … path.N. */
  maxFiles: number;
  /** File mode for new files: audit records are not world-readable. */
  mode?: number;
}

export class RotatingFileWriter extends BatchedWriter {
  readonly #o: RotationOptions;
  #fh: FileHandle | undefined;
  #size = 0;

  constructor(o: RotationOptions) {
    super(o);
    if (o.maxBytes < 1024) throw new Error("audit file maxBytes must be at least 1024");
    if (o.maxFiles < 1) throw new Error("audit file maxFiles must be at least 1");
    this.#o = o;
  }

  async #open(): Promise<FileHandle> {
    if (this.#fh) return this.#fh;
    this.#fh = await open(this.#o.path, "a", this.#o.mode ?? 0o600);
    this.#size = (await this.#fh.stat()).size;
    return this.#fh;
  }

  async #rotate(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
    const p = this.#o.path;
    await rm(`${p}.${this.#o.maxFiles}`, { force: true });
    for (let i = this.#o.maxFiles - 1; i >= 1; i--) {
      await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(() => undefined);
    }
    await rename(p, `${p}.1`).catch(() => undefined);
  }

  protected async writeChunk(chunk: string): Promise<void> {
    // Split on line boundaries so a rotation never cuts a record in half.
    let buf = Buffer.from(chunk, "utf8");
    while (buf.length > 0) {
      const fh = await this.#open();
      const room = this.#o.maxBytes - this.#size;
      let n = buf.length;
      if (n > room) {
        const cut = buf.lastIndexOf(0x0a, room - 1);
        if (cut < 0 && this.#size > 0) {
          await this.#rotate();
          continue;
        }
        // A single record larger than the whole file still gets written (to a fresh file).
        n = cut < 0 ? buf.indexOf(0x0a) + 1 || buf.length : cut + 1;
      }
      await fh.write(buf.subarray(0, n));
      this.#size += n;
      buf = buf.subarray(n);
      if (buf.length > 0 || this.#size >= this.#o.maxBytes) await this.#rotate();
    }
  }

  protected async onClose(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
  }
}

/** Size of a file, or 0 (tests). */
export async function fileSize(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}
