// Request bodies under a size limit and two clocks: the body must keep arriving (idle) and be complete
// within a total time, else BODY_TIMEOUT and the connection goes. Unauthenticated bodies are drained, and
// so is an over-limit body (bounded) before its 413, so the client gets the answer rather than a broken pipe.

import type { IncomingMessage } from "node:http";
import { GatewayError } from "../errors.ts";

export interface BodyLimits {
  readonly maxBytes: number;
  /** Longest pause between two chunks (ms). */
  readonly idleMs: number;
  /** Longest time for the whole body (ms). */
  readonly totalMs: number;
}

/** An over-limit body is read and dropped before the 413: at most this many bytes, for at most this long. */
export const DRAIN_MAX_BYTES = 8 * 1024 * 1024;
export const DRAIN_MAX_MS = 5_000;

/** Drop the rest of an over-limit body (bounded in bytes and time), then reject with 413; the caller closes the connection. */
async function tooLarge(req: IncomingMessage, l: BodyLimits): Promise<never> {
  await drainBody(req, { maxBytes: DRAIN_MAX_BYTES, idleMs: l.idleMs, totalMs: Math.min(l.totalMs, DRAIN_MAX_MS) }, true);
  throw new GatewayError("BODY_TOO_LARGE", `limit is ${l.maxBytes} bytes`);
}

/** The text of a body's chunks (no copy for the usual single chunk). */
function utf8(chunks: Buffer[]): string {
  return chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
}

/** Read the whole body as UTF-8, or reject with BODY_TOO_LARGE / BODY_TIMEOUT (nothing is kept then). */
export function readBodyTimed(req: IncomingMessage, l: BodyLimits): Promise<string> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > l.maxBytes) return tooLarge(req, l);
  // The usual small body arrived with its headers and is already parsed and buffered: take it as it is,
  // with no clocks to start and stop.
  if (req.complete && !req.readableFlowing) {
    const chunks: Buffer[] = [];
    let size = 0;
    for (let c = req.read() as Buffer | null; c !== null; c = req.read() as Buffer | null) {
      size += c.length;
      if (size > l.maxBytes) return tooLarge(req, l);
      chunks.push(c);
    }
    return Promise.resolve(utf8(chunks));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (e: GatewayError | undefined, text?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      clearTimeout(total);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      if (e?.code === "BODY_TOO_LARGE") {
        chunks.length = 0;
        tooLarge(req, l).catch(reject);
      } else if (e) {
        chunks.length = 0;
        // Stop reading: what is still on its way is not wanted (the reply says connection: close).
        req.pause();
        reject(e);
      } else resolve(text!);
    };
    const idle = setTimeout(() => finish(new GatewayError("BODY_TIMEOUT", `no data for ${l.idleMs} ms`)), l.idleMs);
    const total = setTimeout(() => finish(new GatewayError("BODY_TIMEOUT", `body not complete within ${l.totalMs} ms`)), l.totalMs);
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > l.maxBytes) return finish(new GatewayError("BODY_TOO_LARGE", `limit is ${l.maxBytes} bytes`));
      chunks.push(c);
      idle.refresh();
    };
    const onEnd = () => finish(undefined, utf8(chunks));
    const onError = () => finish(new GatewayError("INVALID_REQUEST", "the connection failed while the body was sent"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

/**
 * Discard a body nobody will read (the request was refused from its headers), up to `maxBytes` and
 * within the time limits. Resolves true when the whole body was drained (the connection may be kept),
 * false when it was too large or too slow (the caller closes the connection).
 */
export function drainBody(req: IncomingMessage, l: BodyLimits, ignoreDeclared = false): Promise<boolean> {
  if (req.complete) return Promise.resolve(true);
  const declared = req.headers["content-length"];
  if (!ignoreDeclared && declared !== undefined && Number(declared) > l.maxBytes) return Promise.resolve(false);
  return new Promise((resolve) => {
    let size = 0;
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      clearTimeout(total);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onEnd);
      if (!ok) req.pause();
      resolve(ok);
    };
    const idle = setTimeout(() => finish(false), l.idleMs);
    const total = setTimeout(() => finish(false), l.totalMs);
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > l.maxBytes) finish(false);
      else idle.refresh();
    };
    const onEnd = () => finish(req.complete);
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onEnd);
    req.resume();
  });
}
