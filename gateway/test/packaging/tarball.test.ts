// The package as a user gets it: `npm pack` of gateway/, installed into an empty folder (dependencies from
// the npm cache when they are there), run through `npx @mcp-edge/gateway`: validate, then serve a real MCP client.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEAP_DEFAULTS } from "../../src/heap-defaults.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const demoServer = join(repo, "examples/demo-server/server.ts");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";
const SESSION_KEY = "packaging-test-session-key-0123456789abcdef";

let dir: string;
let files: string[];

function gatewayYaml(extra = ""): string {
  return [
    "listen: { host: 127.0.0.1, port: 0 }",
    'sessions: { key: "${env:MCP_GATEWAY_SESSION_KEY}" }',
    "auth: { dev: true }",
    "authz: { engine: { type: wasm } }",
    "servers:",
    "  demo:",
    `    command: ${JSON.stringify(process.execPath)}`,
    `    args: [${JSON.stringify(demoServer)}, "--stdio"]`,
    "    authz: { actions: { add: read } }",
    extra,
  ].join("\n");
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mgw-pack-"));
  const packDir = join(dir, "pack");
  mkdirSync(packDir);
  // prepack builds dist/ first; --json lists the packed files.
  const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", packDir, "-w", "gateway"], {
    cwd: repo,
    maxBuffer: 16 << 20,
  });
  const packed = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = packed[0]!.files.map((f) => f.path);
  const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith(".tgz"))!);
  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), '{"name":"empty-app","private":true}\n');
  await run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    cwd: app,
    maxBuffer: 16 << 20,
  });
  writeFileSync(join(app, "good.yaml"), gatewayYaml());
  writeFileSync(join(app, "bad.yaml"), gatewayYaml().replace("command:", "comand:"));
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("npm pack of @mcp-edge/gateway", () => {
  it("ships compiled JavaScript, declarations, the schema and the default policy bundle; no sources, no tests", () => {
    expect(files).toContain("dist/cli.js");
    expect(files).toContain("dist/server.d.ts");
    expect(files).toContain("dist/otel/index.js");
    expect(files).toContain("dist/policy/bundle.tar.gz");
    expect(files).toContain("config.schema.json");
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(files.filter((f) => /(^|\/)test\//.test(f))).toEqual([]);
  });

  it("npx @mcp-edge/gateway validate: exit 0 on a good config, exit 1 naming the field on a bad one", async () => {
    const cwd = join(dir, "app");
    const env = { ...process.env, MCP_GATEWAY_SESSION_KEY: SESSION_KEY };
    const good = await run(npx, ["--no-install", "@mcp-edge/gateway", "validate", "--config", "good.yaml"], { cwd, env });
    expect(good.stdout).toContain("good.yaml: valid (1 servers)");
    const bad = await run(npx, ["--no-install", "@mcp-edge/gateway", "validate", "--config", "bad.yaml"], { cwd, env }).then(
      () => {
        throw new Error("validate accepted bad.yaml");
      },
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("servers.demo");
    expect(bad.stderr).toContain("comand");
    const version = await run(npx, ["--no-install", "@mcp-edge/gateway", "--version"], { cwd, env });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("the mcp-gateway bin: serves an MCP client through the packaged policy bundle, stops on SIGTERM", async () => {
    const cwd = join(dir, "app");
    // The bin link itself (npx would stand between the signal and the gateway).
    const p: ChildProcess = spawn(join(cwd, "node_modules/.bin/mcp-gateway"), ["--config", "good.yaml"], {
      cwd,
      env: { ...process.env, MCP_GATEWAY_SESSION_KEY: SESSION_KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout!.on("data", (c) => (out += c));
    p.stderr!.on("data", (c) => (out += c));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 60_000);
        const check = () => {
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m && /dev-1: \S+/.test(out)) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        };
        p.stdout!.on("data", check);
        p.once("exit", (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
      });
      const key = /dev-1: (\S+)/.exec(out)![1]!;
      const c = new Client({ name: "packaging-test", version: "1" });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`${url}/mcp/demo`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
      );
      const r = await c.callTool({ name: "add", arguments: { a: 20, b: 22 } });
      expect(r.structuredContent).toEqual({ sum: 42 });
      await c.close();
      // The bin re-executed itself with the V8 heap defaults (docs/design/memory.md): the pid serving has them.
      if (process.platform === "linux") {
        const argv = readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0");
        for (const flag of HEAP_DEFAULTS) expect(argv).toContain(flag);
      }
    } finally {
      p.kill("SIGTERM");
      await new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once("exit", r)));
    }
    expect(p.exitCode).toBe(0);
  }, 120_000);
});
