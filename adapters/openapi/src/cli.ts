#!/usr/bin/env node
// mcp-openapi: serve an OpenAPI-described REST API as an MCP server over stdio (default) or Streamable HTTP.
// Start-up report (tools, skipped operations, security schemes and their sources) goes to stderr.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { AdapterError } from "./errors.ts";
import { createOpenApiServer } from "./server.ts";

const USAGE = `usage: mcp-openapi --spec <file|url> [--config <options.yaml>] [--base-url <url>] [--http [host:]port] [--path /mcp]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      spec: { type: "string" },
      config: { type: "string" },
      "base-url": { type: "string" },
      http: { type: "string" },
      path: { type: "string", default: "/mcp" },
      help: { type: "boolean" },
    },
  });
  if (values.help || !values.spec) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  let options: Record<string, unknown> = {};
  if (values.config) options = (parseYaml(readFileSync(values.config, "utf8")) ?? {}) as Record<string, unknown>;
  if (values["base-url"]) options.baseUrl = values["base-url"];
  const server = await createOpenApiServer({ document: values.spec, options });
  const log = (line: string) => process.stderr.write(`mcp-openapi: ${line}\n`);
  log(`${server.tools.length} tools from ${values.spec} → ${server.baseUrl}`);
  for (const s of server.skipped) log(`skipped ${s.method} ${s.path}: ${s.reason}`);
  for (const s of server.security) {
    if (s.operations === 0) continue;
    log(
      `security scheme ${s.scheme} (${s.type}, ${s.operations} operations): ${s.satisfiedBy ?? "NOT SATISFIED (configure security.<scheme>)"}`,
    );
  }
  if (values.http !== undefined) {
    const [host, port] = values.http.includes(":") ? values.http.split(":") : ["127.0.0.1", values.http];
    const url = await server.listen(Number(port), host || "127.0.0.1", values.path);
    log(`listening on ${url}`);
    const stop = () => void server.close().then(() => process.exit(0));
    process.once("SIGINT", stop).once("SIGTERM", stop);
  } else {
    await server.serveStdio();
  }
  return -1;
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`mcp-openapi: ${e instanceof AdapterError ? e.message : (e as Error).stack}\n`);
    process.exit(1);
  },
);
