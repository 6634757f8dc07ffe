// Callbacks run once when an exchange's HTTP response is over (answered, stream ended, client gone):
// how a stage that holds something for the exchange (a concurrency slot, a stream count) gives it back.

import type { Exchange } from "./types.ts";

const DONE: unique symbol = Symbol("mcp-gateway.exchange-done");

/** Run `f` once when the exchange is done. */
export function onExchangeDone(ex: Exchange, f: () => void): void {
  const list = ex.vars.get(DONE) as Array<() => void> | undefined;
  if (list) list.push(f);
  else ex.vars.set(DONE, [f]);
}

/** Called by the listener when the response closes; runs each callback once, whatever they throw. */
export function exchangeDone(ex: Exchange): void {
  const list = ex.vars.get(DONE) as Array<() => void> | undefined;
  if (!list) return;
  ex.vars.delete(DONE);
  for (const f of list) {
    try {
      f();
    } catch {
      /* a stage's bookkeeping must not break the response path */
    }
  }
}
