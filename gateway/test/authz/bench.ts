// Authorization cost measurements (not a test): node gateway/test/authz/bench.ts
// wasm decision (engine, uncached and cached through the Authorizer, whole filter), OPA sidecar over
// keep-alive, and filtering a 50-tool list. Prints p50/p99 in µs.

import { startOpa } from "../../../policies/test/opa.ts";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import { createAuthzFilter } from "../../src/filters/authz/filter.ts";
import { SidecarEngine } from "../../src/filters/authz/sidecar-engine.ts";
import type { AuthzInput } from "../../src/filters/authz/types.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { exchange, principal, toolCall } from "./exchange.ts";
import { call, fiftyTools, REQUEST, subject } from "./inputs.ts";

function pct(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `p50 ${(at(0.5) * 1000).toFixed(1)} µs  p99 ${(at(0.99) * 1000).toFixed(1)} µs  (n=${s.length})`;
}

async function measure(name: string, n: number, fn: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    xs.push(performance.now() - t);
  }
  console.log(`${name.padEnd(58)} ${pct(xs)}`);
}

const t0 = performance.now();
const wasm = await WasmEngine.create({ watch: false });
console.log(`wasm bundle load (read + compile + instantiate + smoke)      ${((performance.now() - t0) * 1000).toFixed(0)} µs`);
const first = performance.now();
wasm.decideSync(call(["network-engineers", "site:paris"], ["mfa"], "catalyst-center", "deploy_template", "execute", { site: "paris" }));
console.log(`first wasm decision after load                               ${((performance.now() - first) * 1000).toFixed(1)} µs`);

// Distinct inputs so nothing is cached: vary the tool name and arguments.
const inputs: AuthzInput[] = Array.from({ length: 5000 }, (_, i) =>
  call(["network-engineers", "site:paris"], ["mfa"], "catalyst-center", i % 2 ? "deploy_template" : `tool_${i}`, "execute", {
    site: "paris",
    n: i,
  }),
);
await measure("wasm engine.decide (uncached)", 5000, (i) => wasm.decideSync(inputs[i]!));
await measure("wasm engine.decide, simple read input", 5000, (i) => wasm.decideSync(call(["developers"], [], "github", `t${i}`, "read")));

const uncached = new Authorizer({ engine: wasm, cache: { ttlMs: 0 }, decisionLog: { enabled: false } });
await measure("Authorizer.decide uncached, no log", 5000, (i) => uncached.decide(inputs[i]!));
const cached = new Authorizer({ engine: wasm, decisionLog: { enabled: false } });
const hot = inputs[1]!;
await cached.decide(hot);
await measure("Authorizer.decide cached hit, no log", 5000, () => cached.decide(hot));
const logged = new Authorizer({ engine: wasm, sink: () => {} });
await measure("Authorizer.decide cached hit, decision log built", 5000, () => logged.decide(hot));
const filter = createAuthzFilter({ authorizer: new Authorizer({ engine: wasm, sink: () => {} }) });
const ex = exchange("catalyst-center", principal(["network-engineers", "site:paris"], ["mfa"]));
await measure("authz filter onMessage (tools/call, uncached, logged)", 5000, (i) =>
  filter.onMessage!(ex, toolCall(`tool_${i}`, { site: "paris" })),
);

const items = fiftyTools();
const base: AuthzInput = { subject: subject(["service-desk"], ["mfa"]), server: "catalyst-center", method: "tools/list", request: REQUEST };
await measure("wasm filter, 50-tool list (one batch, uncached)", 2000, () => wasm.filter(base, items));
const listCache = new Authorizer({ engine: wasm, decisionLog: { enabled: false } });
await listCache.filter(base, items);
await measure("Authorizer.filter 50-tool list, cached", 2000, () => listCache.filter(base, items));
await measure("50 separate wasm decisions (what the batch replaces)", 500, () => {
  for (const it of items) wasm.decideSync({ ...base, method: "tools/call", target: it.target, action: it.action });
});

const opa = await startOpa();
const sidecar = new SidecarEngine({ url: opa.url, timeoutMs: 2000, connections: 8 });
await measure("sidecar decide over keep-alive (sequential)", 2000, (i) => sidecar.decide(inputs[i]!));
await measure("sidecar filter, 50-tool list", 500, () => sidecar.filter(base, items));
{
  const n = 4000;
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) await sidecar.decide(inputs[next++ % inputs.length]!);
    }),
  );
  const s = (performance.now() - t) / 1000;
  console.log(`${"sidecar decide, 8 concurrent".padEnd(58)} ${(n / s).toFixed(0)} decisions/s`);
}
await sidecar.close();
await opa.kill();
await wasm.close();
