// Diagnostic preload for the gateway under the bench: `BENCH_NODE_ARGS="--import ./bench/cpu-probe.ts"` with
// CPU_PROBE_DIR set writes a CPU profile of the loaded phase only (from CPU_PROBE_DELAY_MS after start until SIGTERM),
// so start-up (module compilation, JWKS discovery) does not inflate the per-call figures as `--cpu-prof` does.

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.CPU_PROBE_DIR;
if (dir) {
  const s = new Session();
  s.connect();
  s.post("Profiler.enable");
  s.post("Profiler.setSamplingInterval", { interval: Number(process.env.CPU_PROBE_INTERVAL_US ?? 200) });
  setTimeout(() => s.post("Profiler.start"), Number(process.env.CPU_PROBE_DELAY_MS ?? 4000)).unref();
  process.prependListener("SIGTERM", () => {
    s.post("Profiler.stop", (err, r) => {
      if (!err) writeFileSync(join(dir, `CPU.loaded.${process.pid}.cpuprofile`), JSON.stringify(r.profile));
    });
  });
}
