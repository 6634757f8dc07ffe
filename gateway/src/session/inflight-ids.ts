// Request ids in flight per session: a second request reusing the id of one still being answered is
// refused, so a response can never be matched (and filtered) as the answer to another request.

import type { JsonRpcId } from "../codec/jsonrpc.ts";

export class InflightIds {
  readonly #bySession = new Map<string, Set<string>>();
  /** Bound per session: a client cannot grow this table without bound by never letting answers finish. */
  readonly #maxPerSession: number;

  constructor(maxPerSession = 10_000) {
    this.#maxPerSession = maxPerSession;
  }

  /** Claim `ids` for `session`; returns the first one already in flight (nothing is claimed then). */
  claim(session: string, ids: readonly JsonRpcId[]): JsonRpcId | undefined {
    let set = this.#bySession.get(session);
    if (set) {
      for (const id of ids) if (set.has(String(id))) return id;
      if (set.size + ids.length > this.#maxPerSession) return ids[0];
    } else {
      set = new Set();
      this.#bySession.set(session, set);
    }
    for (const id of ids) set.add(String(id));
    return undefined;
  }

  release(session: string, ids: readonly JsonRpcId[]): void {
    const set = this.#bySession.get(session);
    if (!set) return;
    for (const id of ids) set.delete(String(id));
    if (set.size === 0) this.#bySession.delete(session);
  }

  get sessions(): number {
    return this.#bySession.size;
  }
}
