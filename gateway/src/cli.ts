#!/usr/bin/env node
// The `mcp-gateway` command: run the gateway from a YAML config, or validate a config file.

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startConfiguredGateway } from "./assemble.ts";
import { GOVERNANCE_HELP, runGovernanceCommand } from "./cli-governance.ts";
import { ConfigError } from "./config/load.ts";
import { createLogger } from "./log/logger.ts";
import { loadConfigFileWithVault } from "./secrets/load-with-vault.ts";

const HELP = `mcp-gateway — an edge gateway for the Model Context Protocol

Usage:
  mcp-gateway --config <file.yaml>             run the gateway
  mcp-gateway validate --config <file.yaml>    check a config file and exit (0 = valid)
  mcp-gateway --help | --version

${GOVERNANCE_HELP}
Each configured server is served at /mcp/<name> (Streamable HTTP) and /mcp/<name>/sse (legacy SSE).
Config reference: gateway/config.schema.json and docs/configuration.md.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "tools" || argv[0] === "policy") return runGovernanceCommand(argv);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? "run";
  if (command !== "run" && command !== "validate") {
    process.stderr.write(`unknown command "${command}"\n\n${HELP}`);
    return 2;
  }
  const file = values.config;
  if (typeof file !== "string") {
    process.stderr.write(`--config <file.yaml> is required\n\n${HELP}`);
    return 2;
  }
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
    process.stdout.write(`${file}: valid (${Object.keys(config.servers).length} servers)\n`);
    return 0;
  }
  const logger = createLogger({ level: config.logging.level, serviceName: config.telemetry.serviceName });
  let running: Awaited<ReturnType<typeof startConfiguredGateway>>;
  try {
    running = await startConfiguredGateway(config, { baseDir: dirname(resolve(file)), logger });
  } catch (e) {
    process.stderr.write(`mcp-gateway: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  const { url, gateway } = running;
  process.stdout.write(`mcp-gateway listening on ${url}\n`);
  for (const name of gateway.routes.keys()) process.stdout.write(`  ${name}: ${url}/mcp/${name}\n`);
  if (running.banner) process.stdout.write(`${running.banner}\n`);
  logger.info("gateway started", { "url.full": url, servers: [...gateway.routes.keys()] });
  const stop = async (signal: string) => {
    logger.info("shutting down", { signal });
    await running.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
  return -1; // keep running
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/").split("/").pop()!);
if (isMain) {
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
