#!/usr/bin/env node
// The `mcp-gateway` command: run the gateway from a YAML config, or validate a config file. Its own imports are
// loaded lazily, so that `run` can first re-execute itself with the V8 heap defaults (heap-defaults.ts) cheaply.

import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { heapDefaultsArgv } from "./heap-defaults.ts";
import type { Runtime } from "./runtime.ts";

const help = async () => `mcp-gateway — an edge gateway for the Model Context Protocol

Usage:
  mcp-gateway --config <file.yaml> [--workers N]   run the gateway (N processes on one port;
                                                  default: the CPUs, or 1 with stdio/SSE backends or dev mode)
  mcp-gateway validate --config <file.yaml>    check a config file and exit (0 = valid)
  mcp-gateway --help | --version

${(await import("./cli-governance.ts")).GOVERNANCE_HELP}
Each configured server is served at /mcp/<name> (Streamable HTTP) and /mcp/<name>/sse (legacy SSE).
Config reference: gateway/config.schema.json and docs/configuration.md.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "tools" || argv[0] === "policy") return (await import("./cli-governance.ts")).runGovernanceCommand(argv);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        workers: { type: "string", short: "w" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${await help()}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(await help());
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? "run";
  if (command !== "run" && command !== "validate") {
    process.stderr.write(`unknown command "${command}"\n\n${await help()}`);
    return 2;
  }
  const file = values.config;
  if (typeof file !== "string") {
    process.stderr.write(`--config <file.yaml> is required\n\n${await help()}`);
    return 2;
  }
  const [{ ConfigError }, { checkReferencedFiles }, { createLogger }, { startRuntime }, { loadConfigFileWithVault }, workers] =
    await Promise.all([
      import("./config/load.ts"),
      import("./config/paths.ts"),
      import("./log/logger.ts"),
      import("./runtime.ts"),
      import("./secrets/load-with-vault.ts"),
      import("./workers.ts"),
    ]);
  const { isWorker, runPrimary, workerCount } = workers;
  let config: Awaited<ReturnType<typeof loadConfigFileWithVault>>;
  try {
    config = await loadConfigFileWithVault(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (command === "validate") {
    const missing = checkReferencedFiles(config);
    if (missing.length > 0) {
      process.stderr.write(`${new ConfigError(`${file}: referenced files`, missing).message}\n`);
      return 1;
    }
    process.stdout.write(`${file}: valid (${Object.keys(config.servers).length} servers)\n`);
    return 0;
  }
  const logger = createLogger({ level: config.logging.level, serviceName: config.telemetry.serviceName });
  if (!isWorker()) {
    let n: number;
    try {
      n = workerCount(typeof values.workers === "string" ? values.workers : undefined, config, logger);
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n\n${await help()}`);
      return 2;
    }
    if (n > 1) {
      process.stdout.write(`mcp-gateway: ${n} workers\n`);
      runPrimary(n, logger);
      return -1; // the workers serve; the primary forwards signals
    }
  }
  let running: Runtime;
  try {
    // SIGHUP or a change of the file reloads; SIGTERM/SIGINT drain and exit 0.
    running = await startRuntime(file, { logger, signals: true });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    process.stderr.write(`mcp-gateway: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  const { url } = running;
  const gateway = running.current.gateway;
  process.stdout.write(`mcp-gateway listening on ${url}\n`);
  for (const name of gateway.routes.keys()) process.stdout.write(`  ${name}: ${url}/mcp/${name}\n`);
  if (running.adminUrl) process.stdout.write(`admin (healthz, readyz, metrics, config) on ${running.adminUrl}\n`);
  if (running.current.banner) process.stdout.write(`${running.current.banner}\n`);
  logger.info("gateway started", { "url.full": url, servers: [...gateway.routes.keys()], "mcp_gateway.admin.url": running.adminUrl });
  return -1; // keep running
}

// Run when this file is the process's entry point, whatever it is called: `node src/cli.ts`, `node dist/cli.js`,
// or the `mcp-gateway` bin link npm creates (a symlink, hence realpath on both sides).
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
const isMain = isEntryPoint();
if (isMain) {
  // Same pid, arguments and environment, new image: nothing of this one (no socket, no timer) survives the exec.
  const canExec = typeof process.execve === "function" && process.platform !== "win32";
  const withDefaults = heapDefaultsArgv(process.execArgv, process.env, process.argv.slice(2), canExec);
  if (withDefaults) process.execve!(process.execPath, [process.execPath, ...withDefaults, process.argv[1]!, ...process.argv.slice(2)]);
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (e) => {
      process.stderr.write(`mcp-gateway: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
