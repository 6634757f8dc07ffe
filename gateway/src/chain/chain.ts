// Runs filters in stage order and reports each call on diagnostics_channel. Filters never write
// replies; the relay turns a LocalReply into one. Sync verdicts stay sync (no await on the hot path).

import type { RpcMessage } from "../codec/jsonrpc.ts";
import { channels, STAGE_ATTRIBUTES, type StageEvent } from "../diagnostics.ts";
import { stageIndex } from "./order.ts";
import type { Exchange, Filter, Verdict } from "./types.ts";

type Hook = "onRequest" | "onMessage";

export class Chain {
  readonly filters: readonly Filter[];
  readonly #request: Filter[];
  readonly #message: Filter[];
  /** Response path runs in reverse stage order (the filter closest to the backend sees it first). */
  readonly #upstream: Filter[];
  /** Per-stage sub-lists, built on first use (they are asked for on every request). */
  readonly #onlyStage = new Map<Filter["stage"], Filter[]>();
  readonly #afterStage = new Map<Filter["stage"], Filter[]>();

  constructor(filters: Filter[]) {
    const sorted = filters.map((f, i) => ({ f, i })).sort((a, b) => stageIndex(a.f.stage) - stageIndex(b.f.stage) || a.i - b.i);
    this.filters = sorted.map((x) => x.f);
    this.#request = this.filters.filter((f) => f.onRequest);
    this.#message = this.filters.filter((f) => f.onMessage);
    this.#upstream = this.filters.filter((f) => f.onUpstreamMessage).reverse();
  }

  get hasUpstreamFilters(): boolean {
    return this.#upstream.length > 0;
  }

  runRequest(ex: Exchange): Verdict | Promise<Verdict> {
    return this.#run(this.#request, "onRequest", ex, undefined, 0);
  }

  /** Only the request-level filters of one stage (authn for a body that could not be parsed). */
  runRequestStage(ex: Exchange, stage: Filter["stage"]): Verdict | Promise<Verdict> {
    let list = this.#onlyStage.get(stage);
    if (!list) {
      list = this.#request.filter((f) => f.stage === stage);
      this.#onlyStage.set(stage, list);
    }
    return this.#run(list, "onRequest", ex, undefined, 0);
  }

  /** The request-level filters of the stages after `stage` (authn already ran from the headers). */
  runRequestAfter(ex: Exchange, stage: Filter["stage"]): Verdict | Promise<Verdict> {
    let list = this.#afterStage.get(stage);
    if (!list) {
      const after = stageIndex(stage);
      list = this.#request.filter((f) => stageIndex(f.stage) > after);
      this.#afterStage.set(stage, list);
    }
    return this.#run(list, "onRequest", ex, undefined, 0);
  }

  runMessage(ex: Exchange, msg: RpcMessage): Verdict | Promise<Verdict> {
    return this.#run(this.#message, "onMessage", ex, msg, 0);
  }

  #run(list: Filter[], hook: Hook, ex: Exchange, msg: RpcMessage | undefined, from: number): Verdict | Promise<Verdict> {
    for (let i = from; i < list.length; i++) {
      const f = list[i]!;
      const traced = channels.stageStart.hasSubscribers || channels.stageEnd.hasSubscribers;
      const ev: StageEvent | undefined = traced
        ? { exchange: ex, filter: f.name, stage: f.stage, message: msg, start: performance.now() }
        : undefined;
      if (ev) channels.stageStart.publish(ev);
      let v: Verdict | Promise<Verdict>;
      try {
        v = hook === "onRequest" ? f.onRequest!(ex) : f.onMessage!(ex, msg!);
      } catch (e) {
        if (ev) endStage(ev, undefined, ex, true);
        throw e;
      }
      if (v instanceof Promise) {
        return v.then(
          (r) => {
            if (ev) endStage(ev, r, ex);
            return r ?? this.#run(list, hook, ex, msg, i + 1);
          },
          (e) => {
            if (ev) endStage(ev, undefined, ex, true);
            throw e;
          },
        );
      }
      if (ev) endStage(ev, v, ex);
      if (v) return v;
    }
    return undefined;
  }

  /** Response path: each filter may change or drop the message. Sync filters stay sync (no await per filter). */
  runUpstream(
    ex: Exchange,
    msg: RpcMessage,
    request: RpcMessage | undefined,
    from = 0,
  ): RpcMessage | undefined | Promise<RpcMessage | undefined> {
    let m: RpcMessage | undefined = msg;
    const list = this.#upstream;
    for (let i = from; i < list.length; i++) {
      const r = list[i]!.onUpstreamMessage!(ex, m, request);
      if (r instanceof Promise) return r.then((x) => (x ? this.runUpstream(ex, x, request, i + 1) : undefined));
      m = r;
      if (!m) return undefined;
    }
    return m;
  }
}

function endStage(ev: StageEvent, v: Verdict, ex: Exchange, threw = false): void {
  ev.end = performance.now();
  if (v) ev.replied = v.error.code;
  else if (threw) ev.replied = "INTERNAL_ERROR";
  const attrs = ex.vars.get(STAGE_ATTRIBUTES) as StageEvent["attributes"] | undefined;
  if (attrs) {
    ev.attributes = attrs;
    ex.vars.delete(STAGE_ATTRIBUTES);
  }
  channels.stageEnd.publish(ev);
}
