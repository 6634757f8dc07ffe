// Micro-benchmark of the limits stage: the chain's request and message hooks for one tools/call, with
// the stage configured but never reached, against the same chain without it (the direct path).
// Run: node bench/limits-stage.ts [calls]. Prints p50/p99 per call in µs and the stage's added p50.

import { Chain } from "../gateway/src/chain/chain.ts";
import { exchangeDone } from "../gateway/src/chain/exchange-done.ts";
import type { Filter } from "../gateway/src/chain/types.ts";
import { toMessage } from "../gateway/src/codec/jsonrpc.ts";
import { createLimitsFilter } from "../gateway/src/filters/limits/filter.ts";
import { LocalBuckets } from "../gateway/src/filters/limits/token-bucket.ts";
import { ExchangeImpl } from "../gateway/src/relay.ts";

const CALLS = Number(process.argv[2] ?? 200_000);
const BATCH = 100;

const limits = createLimitsFilter(
  {
    rate: { requestsPerSecond: 1e6, burst: 1e6 },
    routes: { fast: { tools: { echo: { requestsPerSecond: 1e6, burst: 1e6 } }, maxConcurrent: 1e6 } },
    maxConcurrentPerPrincipal: 1e6,
    maxSessionsPerPrincipal: 1e6,
    sessionIdleSeconds: 3600,
    maxStreamsPerPrincipal: 1e6,
  },
  new LocalBuckets(),
);
// A stand-in for the stages before limits (authn sets a principal); the same in both chains.
const authn: Filter = {
  name: "authn",
  stage: "authn",
  onRequest(ex) {
    ex.principal = {
      sub: `user-${((ex.clientAddress.length + ex.start) % 64) | 0}`,
      iss: "https://idp",
      groups: [],
      scopes: [],
      amr: [],
      claims: {},
    };
    return undefined;
  },
};
const msg = toMessage({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { text: "x" } } });

function run(chain: Chain, calls: number): number[] {
  const perCall: number[] = [];
  for (let i = 0; i < calls; i += BATCH) {
    const exs = Array.from({ length: BATCH }, () => {
      const ex = new ExchangeImpl("fast", "streamable-http", "POST", {}, "127.0.0.1");
      ex.messages = [msg];
      ex.sessionId = "g1.session";
      return ex;
    });
    const t0 = performance.now();
    for (const ex of exs) {
      if (chain.runRequest(ex)) throw new Error("refused");
      if (chain.runMessage(ex, msg)) throw new Error("refused");
      exchangeDone(ex);
    }
    perCall.push(((performance.now() - t0) * 1000) / BATCH);
  }
  return perCall.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const without = new Chain([authn]);
const withLimits = new Chain([authn, limits]);
// Warm up both, then interleave rounds so machine noise falls on both alike.
run(without, 20_000);
run(withLimits, 20_000);
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < 5; r++) {
  a.push(...run(without, CALLS / 5));
  b.push(...run(withLimits, CALLS / 5));
}
a.sort((x, y) => x - y);
b.sort((x, y) => x - y);
const added = pct(b, 50) - pct(a, 50);
console.log(`limits stage, configured and not reached, ${CALLS} calls (µs per call: request + message hooks + release)`);
console.log(`  chain without limits: p50 ${pct(a, 50).toFixed(3)}  p99 ${pct(a, 99).toFixed(3)}`);
console.log(`  chain with limits:    p50 ${pct(b, 50).toFixed(3)}  p99 ${pct(b, 99).toFixed(3)}`);
console.log(`  added by the stage:   p50 ${added.toFixed(3)} µs (target < 5 µs); ratio ${(pct(b, 50) / pct(a, 50)).toFixed(2)}x`);
if (added >= 5) process.exitCode = 2;
