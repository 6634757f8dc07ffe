// Server-Sent Events: a tolerant incremental parser (events may be split anywhere across chunks,
// lines end in CRLF, LF or CR) and a serialiser. Spec: WHATWG HTML, "Server-sent events", §9.2.6.

import { GatewayError } from "../errors.ts";

export interface SseEvent {
  event: string | undefined;
  data: string;
  id: string | undefined;
  retry: number | undefined;
}

/** Default bound of one event (its data lines and the line being read), in UTF-16 code units. */
export const DEFAULT_MAX_EVENT_LENGTH = 16 * 1024 * 1024;

/**
 * Feed decoded text chunks; complete events are returned as they end (blank line). Linear in the input:
 * an unfinished line is kept as pieces and only new text is scanned (a long event split into many
 * chunks used to be rescanned whole on every chunk). An event longer than `maxEventLength` throws
 * UPSTREAM_FRAME_TOO_LARGE: nothing of it is kept, and the caller ends the stream.
 */
export class SseParser {
  private pieces: string[] = [];
  private pending = 0;
  private eventLength = 0;
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private retry: number | undefined;
  private sawCR = false;
  private first = true;
  private readonly max: number;

  constructor(maxEventLength = DEFAULT_MAX_EVENT_LENGTH) {
    this.max = maxEventLength;
  }

  push(chunk: string): SseEvent[] {
    const out: SseEvent[] = [];
    let text = chunk;
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // UTF-8 BOM
    }
    // A CR at the end of the previous chunk followed by LF here is one line break.
    if (this.sawCR && text.startsWith("\n")) text = text.slice(1);
    this.sawCR = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      let line = text.slice(start, i);
      if (this.pieces.length > 0) {
        this.pieces.push(line);
        line = this.pieces.join("");
        this.pieces = [];
        this.pending = 0;
      }
      this.line(line, out);
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.sawCR = true;
        }
      }
      start = i + 1;
    }
    if (start < text.length) {
      const rest = text.slice(start);
      this.pieces.push(rest);
      this.pending += rest.length;
      if (this.eventLength + this.pending > this.max) this.tooLarge();
    }
    return out;
  }

  private tooLarge(): never {
    this.pieces = [];
    this.pending = 0;
    this.data = [];
    this.eventLength = 0;
    throw new GatewayError("UPSTREAM_FRAME_TOO_LARGE", `an SSE event longer than ${this.max} characters`);
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      if (this.data.length > 0) {
        out.push({ event: this.event, data: this.data.join("\n"), id: this.id, retry: this.retry });
      } else if (this.id !== undefined) {
        // An id-only event (priming event for resumption) still matters to the client.
        out.push({ event: this.event, data: "", id: this.id, retry: this.retry });
      }
      this.data = [];
      this.eventLength = 0;
      this.event = undefined;
      this.id = undefined;
      this.retry = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.eventLength += value.length + 1;
        if (this.eventLength > this.max) this.tooLarge();
        this.data.push(value);
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.id = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

/** Serialise one event. Data lines are split on line breaks so the event survives any payload. */
export function formatSse(ev: {
  event?: string | undefined;
  data: string | undefined;
  id?: string | undefined;
  retry?: number | undefined;
}): string {
  let out = "";
  if (ev.event) out += `event: ${ev.event}\n`;
  if (ev.id !== undefined) out += `id: ${ev.id}\n`;
  if (ev.retry !== undefined) out += `retry: ${ev.retry}\n`;
  // An id/retry-only event (resumption priming) keeps an empty data line: an event with no data is never
  // dispatched (WHATWG HTML §9.2.6), and the client would never learn the id to resume from.
  if (ev.data === undefined) return `${out}data: \n\n`;
  if (ev.data.indexOf("\n") === -1 && ev.data.indexOf("\r") === -1) {
    out += `data: ${ev.data}\n\n`;
  } else {
    for (const l of ev.data.split(/\r\n|\r|\n/)) out += `data: ${l}\n`;
    out += "\n";
  }
  return out;
}
