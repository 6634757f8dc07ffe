// In-process cost of the governance stages per tools/call (`npm run bench:validation`): the pins and
// validation filters on the bench's echo call (1 KiB `text`), timed call by call, against an empty filter.

import type { Exchange, Filter } from "../gateway/src/chain/types.ts";
import type { RpcMessage } from "../gateway/src/codec/jsonrpc.ts";
import { createPinsFilter } from "../gateway/src/filters/pins/filter.ts";
import { MemoryPinStore } from "../gateway/src/filters/pins/store.ts";
import { ToolCatalog } from "../gateway/src/filters/tool-catalog/catalog.ts";
import { createValidationFilter } from "../gateway/src/filters/validation/filter.ts";
import { echoText } from "./load.ts";
import { ECHO_TOOL } from "./mcp-echo.ts";

/** The target: validation under 20 µs p50 per call for the echo tool. */
export const TARGET_P50_US = 20;

export interface CostRow {
  name: string;
  p50us: number;
  p99us: number;
  meanUs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Time `calls` calls of `f` one by one (after a warm-up), in µs. */
function time(name: string, f: () => unknown, calls: number): CostRow {
  for (let i = 0; i < Math.min(calls, 20_000); i++) f();
  const samples = new Float64Array(calls);
  let total = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    f();
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    samples[i] = dt;
    total += dt;
  }
  samples.sort();
  return { name, p50us: percentile(samples, 0.5), p99us: percentile(samples, 0.99), meanUs: total / calls };
}

export function measureValidationCost(calls = 200_000, textBytes = 1024): CostRow[] {
  const catalog = new ToolCatalog();
  const store = new MemoryPinStore("bench");
  const pins = createPinsFilter({ routes: {}, store, catalog });
  const validation = createValidationFilter({
    routes: {},
    lookup: (r, t) => pins.lookup(r, t),
    unknownTools: "refuse",
    maxDepth: 32,
    maxNodes: 100_000,
    cacheSize: 1000,
    maxSchemaChars: 256 * 1024,
  });
  const list: RpcMessage = {
    kind: "response",
    id: 1,
    method: undefined,
    target: undefined,
    arguments: undefined,
    raw: { jsonrpc: "2.0", id: 1, result: { tools: [ECHO_TOOL] } },
  };
  const ex = { server: "fast", vars: new Map() } as unknown as Exchange;
  const listRequest = { kind: "request", id: 1, method: "tools/list" } as RpcMessage;
  pins.onUpstreamMessage!(ex, list, listRequest);
  const args = { text: echoText(textBytes) };
  const call: RpcMessage = {
    kind: "request",
    id: 2,
    method: "tools/call",
    target: "echo",
    arguments: args,
    raw: { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: args } },
  };
  const check = (f: Filter) => {
    if (f.onMessage!(ex, call) !== undefined) throw new Error(`${f.name} refused the bench's echo call`);
  };
  const empty: Filter = { name: "empty", stage: "validation", onMessage: () => undefined };
  return [
    time("empty filter (baseline)", () => check(empty), calls),
    time("pins", () => check(pins), calls),
    time("validation", () => check(validation), calls),
    time(
      "pins + validation",
      () => {
        check(pins);
        check(validation);
      },
      calls,
    ),
  ];
}

if (import.meta.main) {
  const rows = measureValidationCost(Number(process.env.BENCH_CALLS ?? 200_000));
  process.stdout.write("per tools/call echo (1 KiB text), in-process, µs\n");
  for (const r of rows)
    process.stdout.write(
      `${r.name.padEnd(26)} p50 ${r.p50us.toFixed(2).padStart(7)}  p99 ${r.p99us.toFixed(2).padStart(7)}  mean ${r.meanUs.toFixed(2).padStart(7)}\n`,
    );
  const v = rows.find((r) => r.name === "validation")!;
  const ok = v.p50us < TARGET_P50_US;
  process.stdout.write(`target: validation p50 < ${TARGET_P50_US} µs: ${ok ? "met" : "MISSED"} (${v.p50us.toFixed(2)} µs)\n`);
  process.exitCode = ok || process.env.BENCH_STRICT !== "1" ? 0 : 2;
}
