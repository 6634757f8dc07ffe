// The real OpenTelemetry Collector for tests: otelcol-mcp, built from the collector-contrib release
// otel/collector.yaml is written for (otel/scripts/install-otelcol.sh), found and started on loopback ports.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export const COLLECTOR_VERSION = "0.156.0";

/** The pinned collector: $OTELCOL_BIN, $TOOLS_DIR/bin, .cache/tools/bin or PATH. Tests fail without it (npm test builds it). */
export function findCollector(): string {
  const candidates = [
    process.env.OTELCOL_BIN,
    process.env.TOOLS_DIR && join(process.env.TOOLS_DIR, "bin", "otelcol-mcp"),
    new URL("../../../.cache/tools/bin/otelcol-mcp", import.meta.url).pathname,
    ...(process.env.PATH ?? "").split(delimiter).map((d) => join(d, "otelcol-mcp")),
  ].filter((c): c is string => typeof c === "string" && c.length > 0);
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    try {
      if (execFileSync(c, ["--version"], { encoding: "utf8", timeout: 10_000 }).includes(COLLECTOR_VERSION)) return c;
    } catch {}
  }
  throw new Error(
    `otelcol-mcp ${COLLECTOR_VERSION} not found ($OTELCOL_BIN, $TOOLS_DIR/bin, .cache/tools/bin, PATH); run otel/scripts/install-otelcol.sh`,
  );
}

export interface RunningCollector {
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Start the collector with `config` (YAML text) and wait until `ready` says it is (bounded by `ms`). */
export async function startCollector(config: string, ready: () => Promise<boolean>, ms = 30_000): Promise<RunningCollector> {
  const dir = mkdtempSync(join(tmpdir(), "otelcol-test-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, config);
  let out = "";
  const child: ChildProcess = spawn(findCollector(), ["--config", file], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (c: Buffer) => (out += c));
  child.stderr!.on("data", (c: Buffer) => (out += c));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`collector exited ${child.exitCode}: ${out}`);
    }
    if (await ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`collector not ready after ${ms} ms: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { output: () => out, stop };
}
