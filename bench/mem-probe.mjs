// Diagnostic preload for the gateway under the bench: `--import ./bench/mem-probe.mjs` with MEM_PROBE_FILE set appends one JSON
// line per second (RSS, heap and V8 heap spaces in MB, GC pause time since start, event-loop delay p99/max in ms) so RSS
// growth, and what a smaller heap costs in collections, can be attributed.
// Plain JavaScript on purpose: a `.ts` preload would load Node's type stripper into a gateway run from the built dist, and
// that alone adds several MB of RSS to what is being measured. `BENCH_MEM=1 npm run bench:full -w bench` adds it itself.

import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";

const file = process.env.MEM_PROBE_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  // Time in garbage-collection pauses (main thread), in total and per kind: what a heap size costs in CPU.
  const gc = { total: 0, minor: 0, major: 0, count: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.total += e.duration;
      gc.count++;
      // detail.kind: 1 minor (scavenge), 2 major (mark-compact), 4 incremental, 8 weak callbacks.
      if (e.detail?.kind === 1) gc.minor += e.duration;
      else gc.major += e.duration;
    }
  }).observe({ entryTypes: ["gc"] });
  const mb = (n) => Math.round(n / 104857.6) / 10;
  const spaces = () => {
    /** @type {Record<string, number>} */
    const out = {};
    for (const s of getHeapSpaceStatistics()) if (s.space_size > 0) out[s.space_name.replace(/_space$/, "")] = mb(s.space_size);
    return out;
  };
  setInterval(() => {
    const m = process.memoryUsage();
    const v = getHeapStatistics();
    appendFileSync(
      file,
      `${JSON.stringify({
        pid: process.pid,
        t: Date.now(),
        rss: mb(m.rss),
        heapTotal: mb(m.heapTotal),
        heapUsed: mb(m.heapUsed),
        // Committed heap pages actually resident; the rest of RSS is code, the binary, malloc and wasm memories.
        heapPhysical: mb(v.total_physical_size),
        external: mb(m.external),
        arrayBuffers: mb(m.arrayBuffers),
        malloced: mb(v.malloced_memory),
        spaces: spaces(),
        gcMs: Math.round(gc.total * 10) / 10,
        gcMinorMs: Math.round(gc.minor * 10) / 10,
        gcMajorMs: Math.round(gc.major * 10) / 10,
        gcCount: gc.count,
        loopP99Ms: h.percentile(99) / 1e6,
        loopMaxMs: h.max / 1e6,
      })}\n`,
    );
    h.reset();
  }, 1000).unref();
}
