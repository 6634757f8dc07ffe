// Reading a request body with a hard size limit. An over-limit body is still read (and dropped) up
// to a bound before the 413 is sent, so the client gets the answer rather than a broken pipe.

import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.ts";

/** An over-limit body is drained, then answered: at most this many bytes beyond the limit, for at most this long. */
export const DRAIN_MAX_BYTES = 8 * 1024 * 1024;
export const DRAIN_MAX_MS = 5_000;

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return drainThenReject(req, limit, 0);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const onData = (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        req.off("data", onData);
        drainThenReject(req, limit, size).catch(reject);
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", (e) => {
      if (!failed) reject(e);
    });
  });
}

/**
 * Read and drop the rest of an over-limit body (bounded in bytes and time), then reject with 413.
 * The caller answers and closes the connection; a client still sending past the bound may see a reset.
 */
function drainThenReject(req: IncomingMessage, limit: number, seen: number): Promise<never> {
  const error = new GatewayError("BODY_TOO_LARGE", `limit is ${limit} bytes`);
  return new Promise((_, reject) => {
    let drained = 0;
    const done = () => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", done);
      req.off("error", done);
      req.pause();
      reject(error);
    };
    const onData = (c: Buffer) => {
      drained += c.length;
      if (drained + seen > limit + DRAIN_MAX_BYTES) done();
    };
    const timer = setTimeout(done, DRAIN_MAX_MS);
    timer.unref();
    if (req.readableEnded) return done();
    req.on("data", onData);
    req.on("end", done);
    req.on("error", done);
    req.resume();
  });
}
