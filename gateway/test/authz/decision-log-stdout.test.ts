// The default decision-log sink: JSON lines on stdout, queued and written together once per event-loop
// turn (a pipe write is synchronous on Linux; one per decision blocked the loop), flushed on close.

import { afterEach, describe, expect, it, vi } from "vitest";
import { type DecisionLogRecord, flushStdoutSink, stdoutSink, stdoutSinkDropped } from "../../src/filters/authz/decision-log.ts";

const record = (i: number): DecisionLogRecord =>
  ({ decision_id: `d-${i}`, timestamp: new Date(0).toISOString(), path: "mcp/authz/decision", input: { i } }) as DecisionLogRecord;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("decision log on stdout", () => {
  it("writes the records of one turn in one write, every record one JSON line, none lost", async () => {
    const writes: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation(((chunk: string, cb?: () => void) => {
      writes.push(String(chunk));
      cb?.();
      return true;
    }) as typeof process.stdout.write);
    for (let i = 0; i < 50; i++) stdoutSink(record(i));
    // Nothing is written on the request path itself.
    expect(writes).toEqual([]);
    await flushStdoutSink();
    expect(writes.length).toBe(1);
    const lines = writes.join("").trimEnd().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as DecisionLogRecord).decision_id)).toEqual(Array.from({ length: 50 }, (_, i) => `d-${i}`));
    expect(stdoutSinkDropped()).toBe(0);
  });
});
