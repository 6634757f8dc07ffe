// The V8 heap defaults of `mcp-gateway run` (gateway/src/heap-defaults.ts): when they are added, when the operator's
// own sizing wins, and that the started gateway really runs with them (same pid, re-executed) or without them (off).

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HEAP_DEFAULTS, heapDefaultsArgv, startsGateway } from "../src/heap-defaults.ts";

const CLI = new URL("../src/cli.ts", import.meta.url).pathname;

describe("heapDefaultsArgv", () => {
  it("adds the defaults in front of the node flags given, for a gateway start", () => {
    expect(heapDefaultsArgv(["--import", "x.mjs"], {}, ["--config", "g.yaml"], true)).toEqual([...HEAP_DEFAULTS, "--import", "x.mjs"]);
    expect(heapDefaultsArgv([], {}, ["run", "-c", "g.yaml", "--workers", "2"], true)).toEqual([...HEAP_DEFAULTS]);
  });

  it("leaves a heap the operator sized alone: on the command line (either spelling) or in NODE_OPTIONS", () => {
    for (const flag of ["--max-old-space-size=384", "--max_semi_space_size=4", "--max-heap-size=200", "--heap-growing-percent=20"])
      expect(heapDefaultsArgv([flag], {}, ["--config", "g.yaml"], true), flag).toBeUndefined();
    expect(heapDefaultsArgv([], { NODE_OPTIONS: "--max-semi-space-size=16" }, ["--config", "g.yaml"], true)).toBeUndefined();
  });

  it("is off with MCP_GATEWAY_HEAP_DEFAULTS=off, where the process image cannot be replaced, and for other commands", () => {
    expect(heapDefaultsArgv([], { MCP_GATEWAY_HEAP_DEFAULTS: "off" }, ["--config", "g.yaml"], true)).toBeUndefined();
    expect(heapDefaultsArgv([], {}, ["--config", "g.yaml"], false)).toBeUndefined();
    for (const argv of [["validate", "--config", "g.yaml"], ["tools", "list"], ["policy", "replay"], ["--help"], ["-v"]])
      expect(startsGateway(argv), argv.join(" ")).toBe(false);
    expect(startsGateway(["--config", "validate.yaml"])).toBe(true);
  });
});

describe("mcp-gateway run", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /** Start the CLI on a minimal config and return the node flags of the process that listens (same pid). */
  async function startedFlags(env: NodeJS.ProcessEnv): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), "mcp-heap-defaults-"));
    dirs.push(dir);
    const cfg = join(dir, "gateway.yaml");
    await writeFile(
      cfg,
      [
        "listen: { host: 127.0.0.1, port: 0 }",
        `sessions: { key: "${"ab".repeat(24)}" }`,
        "telemetry: { audit: { enabled: false } }",
        "servers:",
        '  a: { url: "http://127.0.0.1:9/mcp" }',
      ].join("\n"),
    );
    const child = spawn(process.execPath, [CLI, "--config", cfg, "--workers", "1"], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`not listening after 60 s: ${out}`)), 60_000);
        child.stdout!.on("data", (c: Buffer) => {
          out += c;
          if (out.includes("listening on")) {
            clearTimeout(t);
            resolve();
          }
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      return argv.slice(1, argv.indexOf(argv.find((a) => a.endsWith("cli.ts"))!));
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  }

  it.runIf(process.platform === "linux")(
    "re-executes itself with the defaults (the pid that listens has them), or not when turned off",
    async () => {
      const { NODE_OPTIONS: _drop, ...env } = process.env;
      expect(await startedFlags({ ...env, NODE_OPTIONS: "" })).toEqual([...HEAP_DEFAULTS]);
      expect(await startedFlags({ ...env, NODE_OPTIONS: "", MCP_GATEWAY_HEAP_DEFAULTS: "off" })).toEqual([]);
    },
    120_000,
  );
});
