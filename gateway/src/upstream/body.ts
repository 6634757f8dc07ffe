// Turning a backend's HTTP answer into messages: a JSON body (one message or an array), or an SSE
// stream parsed incrementally. Anything that is not JSON-RPC is UPSTREAM_BAD_RESPONSE.

import { isObject, type JsonObject } from "../codec/jsonrpc.ts";
import { SseParser } from "../codec/sse.ts";
import { GatewayError } from "../errors.ts";
import type { UpstreamMessage } from "./types.ts";

function asMessage(v: unknown, text: string | undefined): UpstreamMessage {
  if (!isObject(v) || v.jsonrpc !== "2.0")
    throw new GatewayError("UPSTREAM_BAD_RESPONSE", "backend sent a value that is not a JSON-RPC message");
  return { message: v as JsonObject, text, eventId: undefined };
}

/**
 * The messages of a complete body: iterable like a stream, and readable at once (`items`) so the relay can
 * answer a plain JSON reply without async iteration.
 */
export class BodyMessages implements AsyncIterable<UpstreamMessage> {
  readonly items: readonly UpstreamMessage[];
  constructor(items: readonly UpstreamMessage[]) {
    this.items = items;
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<UpstreamMessage> {
    yield* this.items;
  }
}

/** Messages of a complete JSON body. */
export function jsonBodyMessages(text: string): UpstreamMessage[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatewayError("UPSTREAM_BAD_RESPONSE", "backend sent a body that is not JSON");
  }
  if (Array.isArray(v)) return v.map((m) => asMessage(m, undefined));
  return [asMessage(v, text)];
}

/** Parse an SSE byte stream into messages as events complete. */
export async function* sseMessages(chunks: AsyncIterable<Uint8Array | string>, maxEventLength?: number): AsyncGenerator<UpstreamMessage> {
  const parser = new SseParser(maxEventLength);
  const decoder = new TextDecoder();
  for await (const chunk of chunks) {
    const events = parser.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    for (const ev of events) {
      if (ev.data === "") {
        if (ev.id !== undefined || ev.retry !== undefined) yield { message: undefined, text: undefined, eventId: ev.id, retry: ev.retry };
        continue;
      }
      if (ev.event !== undefined && ev.event !== "message") continue; // unknown event types are not MCP messages
      let v: unknown;
      try {
        v = JSON.parse(ev.data);
      } catch {
        throw new GatewayError("UPSTREAM_BAD_RESPONSE", "backend sent an SSE event whose data is not JSON");
      }
      const m = asMessage(v, ev.data);
      yield ev.id === undefined && ev.retry === undefined ? m : { ...m, eventId: ev.id, retry: ev.retry };
    }
  }
}

/** Close a pool gracefully, then destroy what is still open (long-lived SSE streams) after a grace period. */
export async function closePool(pool: { close(): Promise<void>; destroy(): Promise<void> }, graceMs = 500): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((r) => {
    timer = setTimeout(r, graceMs);
  });
  await Promise.race([pool.close().catch(() => {}), grace]);
  clearTimeout(timer);
  await pool.destroy().catch(() => {});
}
