// Diagnostic preload for the gateway under the bench: `BENCH_NODE_ARGS="--import ./bench/mem-probe.ts"` with MEM_PROBE_FILE set
// appends one JSON line per second (process.memoryUsage() in MB, event-loop delay p99/max in ms) so RSS growth can be attributed.

import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.MEM_PROBE_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const mb = (n: number) => Math.round(n / 1048576);
  setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(
      file,
      `${JSON.stringify({
        pid: process.pid,
        t: Date.now(),
        rss: mb(m.rss),
        heapTotal: mb(m.heapTotal),
        heapUsed: mb(m.heapUsed),
        external: mb(m.external),
        arrayBuffers: mb(m.arrayBuffers),
        loopP99Ms: h.percentile(99) / 1e6,
        loopMaxMs: h.max / 1e6,
      })}\n`,
    );
    h.reset();
  }, 1000).unref();
}
