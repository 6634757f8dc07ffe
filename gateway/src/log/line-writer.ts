// Batched line writers for the audit sink and the decision log: a stream (stdout) or a file rotated by
// size. Lines are queued and written in batches by size and age, so the request path never does I/O.

import { type FileHandle, open, rename, rm, stat } from "node:fs/promises";
import type { Writable } from "node:stream";

export interface LineWriter {
  write(line: string): void;
  /** Resolves when every line accepted before the call is written (or failed). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Lines dropped because the queue was full (the disk or pipe could not keep up), or whose write failed. */
  readonly dropped: number;
}

export interface QueueLimits {
  /** Queued characters beyond which new lines are dropped (and counted). Default 64 MiB. */
  maxQueuedBytes?: number;
  /**
   * The longest a line waits before its batch is written (ms). Default 20. 0: the next event-loop turn
   * (one write per turn, the behaviour before batching by time). A crash loses at most this much.
   */
  flushIntervalMs?: number;
  /** Queued characters that start a write at once, without waiting for the interval. Default 64 KiB. */
  batchBytes?: number;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 20;
export const DEFAULT_BATCH_BYTES = 64 * 1024;

/**
 * The queue and its schedule. One write in flight at a time; a batch starts when the oldest queued line
 * is `flushIntervalMs` old, when `batchBytes` are queued, or on flush(); every write starts from a timer
 * or an immediate callback, never from write() itself (a pipe write on Linux is a system call done in place).
 * Under load that is a few large writes a second instead of one per event-loop turn: each write costs a
 * system call and, for files, a thread-pool round trip, whatever its size.
 */
abstract class BatchedWriter implements LineWriter {
  #queue: string[] = [];
  #queuedBytes = 0;
  #dropped = 0;
  #closed = false;
  #inFlight = false;
  /** Lines accepted, and lines whose batch has completed: flush() waits for the second to reach the first. */
  #accepted = 0;
  #done = 0;
  /** A batch is owed as soon as the write in flight ends (interval passed, size reached, or a flush waits). */
  #due = false;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #waiters: Array<{ upTo: number; resolve: () => void }> = [];
  readonly #max: number;
  readonly #interval: number;
  readonly #batchBytes: number;

  constructor(limits: QueueLimits) {
    this.#max = limits.maxQueuedBytes ?? 64 * 1024 * 1024;
    this.#interval = limits.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#batchBytes = limits.batchBytes ?? DEFAULT_BATCH_BYTES;
    if (!(this.#interval >= 0)) throw new Error("flushIntervalMs must be 0 or more");
    if (!(this.#batchBytes >= 1)) throw new Error("batchBytes must be at least 1");
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Lines waiting to be written (tests, diagnostics). */
  get queuedLines(): number {
    return this.#queue.length;
  }

  write(line: string): void {
    if (this.#closed || this.#queuedBytes + line.length > this.#max) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#accepted++;
    if (this.#queuedBytes >= this.#batchBytes) {
      this.#due = true;
      this.#soon();
    } else if (this.#interval === 0) {
      this.#due = true;
      this.#soon();
    } else if (!this.#due && this.#timer === undefined && this.#immediate === undefined) {
      this.#timer = setTimeout(this.#onTimer, this.#interval);
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#due = true;
    this.#pump();
  };

  #soon(): void {
    if (this.#immediate !== undefined || this.#inFlight) return;
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      this.#due = true;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#inFlight || this.#queue.length === 0 || !this.#due) return;
    this.#due = false;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const lines = this.#queue.length;
    const batch = lines === 1 ? this.#queue[0]! : this.#queue.join("");
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#inFlight = true;
    this.writeChunk(batch)
      .catch((e: unknown) => {
        this.#dropped += lines;
        this.onError(e);
      })
      .finally(() => {
        this.#inFlight = false;
        this.#done += lines;
        this.#settle();
        if (this.#queue.length === 0) return;
        // Lines queued while the write was in flight: written now if they are owed, else when their timer fires
        // (set by write(); re-armed here in case the batch that just ended had cleared it).
        if (this.#due) this.#pump();
        else if (this.#timer === undefined) this.#timer = setTimeout(this.#onTimer, this.#interval);
      });
  }

  #settle(): void {
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => this.#done >= w.upTo);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => this.#done < w.upTo);
    for (const w of ready) w.resolve();
  }

  async flush(): Promise<void> {
    const upTo = this.#accepted;
    if (this.#done >= upTo) return;
    const p = new Promise<void>((resolve) => this.#waiters.push({ upTo, resolve }));
    this.#due = true;
    this.#pump();
    await p;
  }

  async close(): Promise<void> {
    // Closed first: a line written while the last batches drain is dropped (counted), never left queued.
    this.#closed = true;
    await this.flush();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
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
    // The common case, a batch that fits: the string goes to the file as is (Node encodes it on the write),
    // saving the copy into a Buffer, which cost about as much CPU as the write itself for a 64 KiB batch.
    const bytes = Buffer.byteLength(chunk, "utf8");
    const fh0 = await this.#open();
    let buf: Buffer;
    if (bytes <= this.#o.maxBytes - this.#size) {
      const { bytesWritten } = await fh0.write(chunk, null, "utf8");
      this.#size += bytesWritten;
      if (bytesWritten >= bytes) {
        if (this.#size >= this.#o.maxBytes) await this.#rotate();
        return;
      }
      buf = Buffer.from(chunk, "utf8").subarray(bytesWritten); // a short write (disk full, signal): the rest below
    } else {
      buf = Buffer.from(chunk, "utf8");
    }
    // Split on line boundaries so a rotation never cuts a record in half.
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
      const { bytesWritten } = await fh.write(buf.subarray(0, n));
      if (bytesWritten === 0) throw new Error(`audit file ${this.#o.path}: write made no progress`);
      this.#size += bytesWritten;
      buf = buf.subarray(bytesWritten);
      if (bytesWritten < n) continue;
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
