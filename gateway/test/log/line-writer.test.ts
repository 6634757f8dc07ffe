// The batched line writers behind the audit sink and the decision log: batches by age and size, one write in
// flight, a bounded queue whose drops are counted, flush/close that lose nothing accepted, rotation by size.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { afterAll, describe, expect, it, vi } from "vitest";
import { RotatingFileWriter, StreamLineWriter } from "../../src/log/line-writer.ts";

/** A stream whose writes complete only when the test says so (a slow pipe or disk). */
type Stream = Pick<Writable, "write">;

function heldStream() {
  const writes: string[] = [];
  const pending: Array<() => void> = [];
  let hold = false;
  return {
    writes,
    pending,
    hold(on: boolean) {
      hold = on;
      if (!on) for (const cb of pending.splice(0)) cb();
    },
    stream: {
      write(chunk: string, cb?: (e?: Error | null) => void): boolean {
        writes.push(String(chunk));
        if (!hold) {
          cb?.();
          return true;
        }
        if (cb) pending.push(cb);
        return false;
      },
    } as unknown as Stream,
  };
}

const lines = (writes: string[]) => writes.join("").split("\n").filter(Boolean);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("batched line writer", () => {
  it("never writes from write() itself; lines of one interval go out in one write, without a flush", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 30 });
    for (let i = 0; i < 100; i++) w.write(`${i}\n`);
    expect(s.writes).toEqual([]);
    expect(w.queuedLines).toBe(100);
    await vi.waitFor(() => expect(s.writes.length).toBe(1), { timeout: 10_000, interval: 5 });
    expect(lines(s.writes)).toEqual(Array.from({ length: 100 }, (_, i) => `${i}`));
    expect(w.dropped).toBe(0);
    await w.close();
  });

  it("writes as soon as batchBytes are queued, without waiting for the interval", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 600_000, batchBytes: 1000 });
    w.write(`${"a".repeat(500)}\n`);
    await new Promise((r) => setImmediate(r));
    expect(s.writes).toEqual([]); // below batchBytes, and the interval is ten minutes
    w.write(`${"b".repeat(500)}\n`);
    expect(s.writes).toEqual([]); // still not from write() itself
    await vi.waitFor(() => expect(s.writes.length).toBe(1), { timeout: 10_000, interval: 5 });
    expect(lines(s.writes).map((l) => l[0])).toEqual(["a", "b"]);
    await w.close();
  });

  it("flushIntervalMs 0 writes on the next event-loop turn", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 0 });
    w.write("x\n");
    w.write("y\n");
    expect(s.writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(s.writes).toEqual(["x\ny\n"]);
    await w.close();
  });

  it("keeps one write in flight: lines queued meanwhile go out together when it completes", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 0 });
    s.hold(true);
    w.write("first\n");
    await vi.waitFor(() => expect(s.writes.length).toBe(1), { timeout: 10_000, interval: 5 });
    for (let i = 0; i < 10; i++) w.write(`next-${i}\n`);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(s.writes.length).toBe(1); // the first write has not completed: nothing else started
    const flushed = w.flush();
    s.hold(false);
    await flushed;
    expect(s.writes.length).toBe(2);
    expect(lines(s.writes)).toEqual(["first", ...Array.from({ length: 10 }, (_, i) => `next-${i}`)]);
    await w.close();
  });

  it("bounds the queue behind a stalled stream: lines beyond it are dropped and counted, the others all written", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 0, maxQueuedBytes: 100 });
    s.hold(true);
    w.write("0000000009\n"); // goes into the write that stalls
    await vi.waitFor(() => expect(s.writes.length).toBe(1), { timeout: 10_000, interval: 5 });
    // 11 characters a line, 100 queued at most: 9 lines fit, the other 41 are dropped.
    for (let i = 1; i < 51; i++) w.write(`${String(i).padStart(10, "0")}\n`);
    expect(w.dropped).toBe(41);
    expect(w.queuedLines).toBe(9);
    s.hold(false);
    await w.flush();
    const written = lines(s.writes);
    expect(written.length).toBe(10);
    expect(written.length + w.dropped).toBe(51);
    // Once the queue drained there is room again.
    w.write("later\n");
    await w.flush();
    expect(lines(s.writes).at(-1)).toBe("later");
    expect(w.dropped).toBe(41);
    await w.close();
  });

  it("flush() waits for the lines accepted before it, even while more keep coming", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 600_000 });
    for (let i = 0; i < 20; i++) w.write(`a${i}\n`);
    let more = 0;
    const t = setInterval(() => w.write(`b${more++}\n`), 1);
    try {
      await w.flush();
      const written = lines(s.writes);
      for (let i = 0; i < 20; i++) expect(written).toContain(`a${i}`);
    } finally {
      clearInterval(t);
    }
    await w.close();
    expect(lines(s.writes).length + w.dropped).toBe(20 + more);
  });

  it("close() writes everything queued; a line written after close is dropped and counted", async () => {
    const s = heldStream();
    const w = new StreamLineWriter(s.stream, { flushIntervalMs: 600_000 });
    for (let i = 0; i < 30; i++) w.write(`${i}\n`);
    await w.close();
    expect(lines(s.writes).length).toBe(30);
    w.write("too late\n");
    expect(w.dropped).toBe(1);
    await w.flush();
    expect(lines(s.writes)).not.toContain("too late");
  });

  it("a failed write counts its lines as dropped, warns, and the writer goes on", async () => {
    let fail = true;
    const writes: string[] = [];
    const stream = {
      write(chunk: string, cb?: (e?: Error | null) => void): boolean {
        if (fail) throw new Error("EPIPE");
        writes.push(chunk);
        cb?.();
        return true;
      },
    } as unknown as Stream;
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    try {
      const w = new StreamLineWriter(stream, { flushIntervalMs: 0 });
      w.write("a\n");
      w.write("b\n");
      await w.flush();
      expect(w.dropped).toBe(2);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining("EPIPE"));
      fail = false;
      w.write("c\n");
      await w.close();
      expect(writes).toEqual(["c\n"]);
      expect(w.dropped).toBe(2);
    } finally {
      warn.mockRestore();
    }
  });

  it("rejects a negative interval", () => {
    expect(() => new StreamLineWriter(heldStream().stream, { flushIntervalMs: -1 })).toThrow(/flushIntervalMs/);
  });
});

describe("rotating file writer", () => {
  it("batches into a real file, rotates by size without splitting a record, and close() flushes the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "line-writer-"));
    dirs.push(dir);
    const path = join(dir, "audit.log");
    const w = new RotatingFileWriter({ path, maxBytes: 1024, maxFiles: 20, flushIntervalMs: 5 });
    const n = 200;
    for (let i = 0; i < n; i++) {
      w.write(`${JSON.stringify({ i, pad: "x".repeat(30) })}\n`);
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1)); // let some batches go out mid-way
    }
    await w.close();
    const files = readdirSync(dir).filter((f) => f.startsWith("audit.log"));
    expect(files.length).toBeGreaterThan(5);
    const seen: number[] = [];
    for (const f of files) {
      const text = readFileSync(join(dir, f), "utf8");
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1024);
      expect(text.endsWith("\n")).toBe(true);
      for (const l of text.split("\n").filter(Boolean)) seen.push((JSON.parse(l) as { i: number }).i);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(w.dropped).toBe(0);
  });
});
