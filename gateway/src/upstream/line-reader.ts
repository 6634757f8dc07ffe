// Newline-delimited frames from a byte stream, with a bound: a line longer than `maxBytes` is never
// buffered whole (the reader stops and says so), and each chunk is scanned once (linear in the input).

import type { Readable } from "node:stream";

/**
 * Call `onLine` for every complete line (without its LF or CRLF). When a line grows past `maxBytes`,
 * `onTooLong` is called once, the partial line is dropped and reading stops.
 */
export function readBoundedLines(input: Readable, maxBytes: number, onLine: (line: string) => void, onTooLong: () => void): void {
  let pieces: Buffer[] = [];
  let pending = 0;
  let stopped = false;
  const onData = (chunk: Buffer) => {
    if (stopped) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      let line: Buffer = chunk.subarray(start, nl);
      if (pieces.length > 0) {
        pieces.push(line);
        line = Buffer.concat(pieces, pending + line.length);
        pieces = [];
        pending = 0;
      }
      if (line.length > maxBytes) return stop();
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      onLine(line.toString("utf8", 0, end));
      if (stopped) return;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      pending += rest.length;
      if (pending > maxBytes) return stop();
      // Copy: the chunk's memory belongs to the stream and a subarray would keep all of it alive.
      pieces.push(Buffer.from(rest));
    }
  };
  const stop = () => {
    stopped = true;
    pieces = [];
    pending = 0;
    input.off("data", onData);
    input.resume(); // keep draining so the child never blocks on a full pipe before it is killed
    onTooLong();
  };
  input.on("data", onData);
}
