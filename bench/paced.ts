// Open-loop load at a fixed rate over N keep-alive connections, on raw node:net sockets (a lean HTTP/1.1 client, so the
// generator itself stays far from saturation at 10,000 calls/s on one core). autocannon's rate limit sends each second's quota in one burst.

import { connect, type Socket } from "node:net";

export interface PacedSpec {
  url: string;
  headers: Record<string, string>;
  connections: number;
  rate: number;
  seconds: number;
  /** Body of call number `id` (ids are unique over the run). */
  body: (id: number) => string;
  /** One finished call: status and body, its id, and the latency in µs counted from when the call was DUE (not sent). */
  onReply: (status: number, body: string, id: number, latencyUs: number) => void;
  onError: (why: string) => void;
  timeoutMs?: number;
}

export interface PacedOutcome {
  seconds: number;
  sent: number;
  /** The target fell more than a second behind; sending stopped early. */
  saturated: boolean;
}

const CRLF2 = Buffer.from("\r\n\r\n");
const nowNs = () => Number(process.hrtime.bigint());

interface Parsed {
  status: number;
  body: string;
  end: number;
}

/** Parse one HTTP/1.1 response at the start of `buf` (RFC 9112 §6: Content-Length or chunked); undefined if incomplete. */
export function parseResponse(buf: Buffer): Parsed | undefined {
  const headEnd = buf.indexOf(CRLF2);
  if (headEnd === -1) return undefined;
  const head = buf.toString("latin1", 0, headEnd);
  const status = Number(head.slice(9, 12));
  const start = headEnd + 4;
  const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (cl) {
    const end = start + Number(cl[1]);
    return buf.length < end ? undefined : { status, body: buf.toString("utf8", start, end), end };
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", at);
      if (lineEnd === -1) return undefined;
      const size = Number.parseInt(buf.toString("latin1", at, lineEnd), 16);
      if (!Number.isFinite(size)) throw new Error("bad chunk size");
      if (size === 0) {
        // Last chunk, optional trailers, then an empty line: the first CRLFCRLF from the size line's CRLF on.
        const trailerEnd = buf.indexOf(CRLF2, lineEnd);
        if (trailerEnd === -1) return undefined;
        return { status, body: Buffer.concat(parts).toString("utf8"), end: trailerEnd + 4 };
      }
      const dataEnd = lineEnd + 2 + size;
      if (buf.length < dataEnd + 2) return undefined;
      parts.push(buf.subarray(lineEnd + 2, dataEnd));
      at = dataEnd + 2;
    }
  }
  // 1xx/204/304 or no framing on a keep-alive connection: no body.
  return { status, body: "", end: start };
}

interface Conn {
  socket: Socket;
  pending: Buffer;
  /** The call on the wire, if any. */
  id: number;
  due: number;
  sentAt: number;
}

export function runPaced(spec: PacedSpec): Promise<PacedOutcome> {
  const url = new URL(spec.url);
  const port = Number(url.port || 80);
  const prefix =
    `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n` +
    Object.entries(spec.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
  const stepNs = 1e9 / spec.rate;
  const timeoutNs = (spec.timeoutMs ?? 10_000) * 1e6;
  const maxBacklog = Math.max(spec.connections, spec.rate);
  let total = Math.max(1, Math.round(spec.seconds * spec.rate));
  let sent = 0; // calls that became due and were queued or put on the wire
  let finished = 0;
  let seq = 0;
  let saturated = false;
  let reconnects = 0;
  const queue: number[] = []; // due times of calls waiting for a free connection
  let qHead = 0;
  const idle: Conn[] = [];
  const conns: Conn[] = [];
  const start = nowNs();

  return new Promise<PacedOutcome>((resolveP) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      for (const c of conns) c.socket.destroy();
      resolveP({ seconds: (nowNs() - start) / 1e9, sent, saturated });
    };
    const complete = () => {
      if (++finished === total && sent === total) finish();
    };
    const dispatch = () => {
      while (qHead < queue.length && idle.length > 0) {
        const c = idle.pop()!;
        const id = ++seq;
        const body = spec.body(id);
        c.id = id;
        c.due = queue[qHead++]!;
        c.sentAt = nowNs();
        c.socket.write(`${prefix}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
      if (qHead > 4096 && qHead * 2 > queue.length) {
        queue.splice(0, qHead);
        qHead = 0;
      }
    };
    const open = (): Conn => {
      const c: Conn = { socket: connect({ port, host: url.hostname, noDelay: true }), pending: Buffer.alloc(0), id: 0, due: 0, sentAt: 0 };
      c.socket.on("connect", () => {
        idle.push(c);
        dispatch();
      });
      c.socket.on("data", (chunk: Buffer) => {
        c.pending = c.pending.length === 0 ? chunk : Buffer.concat([c.pending, chunk]);
        let r: Parsed | undefined;
        try {
          r = parseResponse(c.pending);
        } catch (e) {
          spec.onError(`unparsable HTTP response: ${(e as Error).message}`);
          c.socket.destroy();
          return;
        }
        if (!r || c.id === 0) return;
        c.pending = r.end === c.pending.length ? Buffer.alloc(0) : c.pending.subarray(r.end);
        const id = c.id;
        c.id = 0;
        spec.onReply(r.status, r.body, id, Math.round((nowNs() - c.due) / 1000));
        idle.push(c);
        complete();
        dispatch();
      });
      c.socket.on("error", () => {});
      c.socket.on("close", () => {
        if (done) return;
        if (c.id !== 0) {
          spec.onError(`connection closed with call ${c.id} in flight`);
          c.id = 0;
          complete();
        }
        const i = idle.indexOf(c);
        if (i !== -1) idle.splice(i, 1);
        conns.splice(conns.indexOf(c), 1);
        // Bounded: a target that keeps dropping connections ends the run instead of spinning forever.
        if (++reconnects > 1000) {
          spec.onError("more than 1000 reconnects; giving up");
          finish();
          return;
        }
        if (!done) conns.push(open());
      });
      return c;
    };
    const watchdog = setInterval(() => {
      const t = nowNs();
      for (const c of conns) if (c.id !== 0 && t - c.sentAt > timeoutNs) c.socket.destroy(new Error("timeout"));
    }, 500);
    for (let i = 0; i < spec.connections; i++) conns.push(open());
    const tick = () => {
      if (done) return;
      const due = Math.min(total, Math.floor((nowNs() - start) / stepNs) + 1);
      while (sent < due) queue.push(start + sent++ * stepNs);
      dispatch();
      if (sent - finished > maxBacklog) {
        saturated = true;
        total = sent;
        if (finished === total) finish();
        return;
      }
      // This process owns its core: spinning keeps the schedule within microseconds of the due times.
      if (sent < total) setImmediate(tick);
    };
    tick();
  });
}
