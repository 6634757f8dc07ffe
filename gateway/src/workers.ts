// Worker mode (`--workers N`): a primary process forks N gateway processes that serve the same port (node:cluster
// hands connections round-robin). HTTP sessions work on any worker (sealed ids); stdio children, legacy SSE and
// dev-mode keys are per process, so configs with them run one worker unless N is forced (then a warning).

import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { type GatewayConfig, upstreamKind } from "./config/schema.ts";
import type { Logger } from "./log/logger.ts";

/** Why this config must run in one process, or undefined when any worker can serve any request. */
export function singleProcessReason(config: GatewayConfig): string | undefined {
  if (config.auth?.dev) return "dev-mode API keys are generated per process";
  const local = Object.entries(config.servers)
    .filter(([, s]) => upstreamKind(s) !== "streamable-http")
    .map(([n]) => n);
  if (local.length) return `stdio and legacy SSE backends keep sessions in one process (${local.join(", ")})`;
  return undefined;
}

/** The number of workers: the flag, else the CPUs available when the config allows, else 1. */
export function workerCount(flag: string | undefined, config: GatewayConfig, logger: Logger): number {
  const reason = singleProcessReason(config);
  if (flag === undefined) return reason ? 1 : availableParallelism();
  const n = Number(flag);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--workers must be a whole number ≥ 1, got ${JSON.stringify(flag)}`);
  if (n > 1 && reason) logger.warn(`--workers ${n}: ${reason}; such sessions fail on other workers (404, the client re-initializes)`);
  return n;
}

export const isWorker = () => cluster.isWorker;

/**
 * Run as the primary: fork `n` workers with the same arguments, forward SIGHUP (reload) and SIGTERM/SIGINT
 * (drain) to them, replace a worker that dies unexpectedly (at most once per second), and exit when all are gone.
 */
export function runPrimary(n: number, logger: Logger): void {
  let stopping = false;
  let lastRestart = 0;
  const fork = () => cluster.fork({ MCP_GATEWAY_WORKER: "1" });
  for (let i = 0; i < n; i++) fork();
  cluster.on("exit", (w: Worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error("worker exited; starting another", { "process.pid": w.process.pid, "process.exit_code": code, signal });
    const wait = Math.max(0, lastRestart + 1000 - Date.now());
    lastRestart = Date.now() + wait;
    setTimeout(fork, wait).unref();
  });
  const each = (sig: NodeJS.Signals) => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(sig);
  };
  process.on("SIGHUP", () => each("SIGHUP"));
  const stop = (sig: NodeJS.Signals) => {
    stopping = true;
    logger.info("draining workers", { signal: sig });
    each(sig);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
