// Reads a request body up to a byte limit, for the adapters' HTTP hosts and their fakes: a body past the
// limit is never buffered whole, so one client cannot make an adapter hold an unbounded request.

import type { IncomingMessage } from "node:http";

/** The body as UTF-8, or undefined once it passes `limit` bytes (reading stops there and the request is dropped). */
export async function readBoundedBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
