// Config: schema validation with field paths, ${env:}/${file:} references as Secrets, the JSON
// Schema kept current, every example config valid, and the CLI's validate/--help/--version.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { configJsonSchema } from "../scripts/gen-schema.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../src/config/load.ts";
import { Secret } from "../src/config/secret.ts";
import { TEST_KEY } from "./helpers.ts";

const CLI = new URL("../src/cli.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
const base = { sessions: { key: TEST_KEY }, servers: { a: { url: "http://127.0.0.1:1/mcp" } } };

function issues(tree: unknown): string[] {
  try {
    parseConfig(tree, ROOT, { env: {} });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
}

describe("schema", () => {
  it("accepts the three upstream kinds and fills defaults", () => {
    const c = parseConfig(
      { ...base, servers: { h: { url: "http://x/mcp" }, s: { sse: "http://x/sse" }, p: { command: "node", args: ["s.js"] } } },
      ROOT,
    );
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(c.limits.maxBodyBytes).toBe(4 * 1024 * 1024);
    expect(c.servers.p).toMatchObject({ command: "node", args: ["s.js"], env: {}, idleTimeoutMs: 600_000 });
  });
  it.each([
    [{ ...base, servers: { a: { url: 42 } } }, "servers.a"],
    [{ ...base, servers: { a: { url: "ftp://x" } } }, "servers.a"],
    [{ ...base, servers: { "bad name!": { url: "http://x" } } }, "servers"],
    [{ ...base, servers: {} }, "servers"],
    [{ ...base, sessions: { key: "short" } }, "sessions.key"],
    [{ ...base, listen: { port: 70000 } }, "listen.port"],
    [{ ...base, limits: { maxBodyBytes: -1 } }, "limits.maxBodyBytes"],
    [{ ...base, unknownKey: 1 }, "(root)"],
    [{ ...base, servers: { a: { command: "x", args: "not-an-array" } } }, "servers.a"],
  ])("names the field path of an invalid value (%#)", (tree, path) => {
    const got = issues(tree);
    expect(got.length).toBeGreaterThan(0);
    expect(got.join("\n")).toContain(path);
  });
  it("resolves ${env:} and ${file:} references into Secrets that never print", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    writeFileSync(join(dir, "key.txt"), "file-secret-value-0123456789abcdef0123\n");
    const c = parseConfig(
      { sessions: { key: "${file:key.txt}" }, servers: { a: { url: "${env:BACKEND}", headers: { "x-api-key": "${env:API_KEY}" } } } },
      dir,
      { env: { BACKEND: "http://127.0.0.1:9/mcp", API_KEY: "sk-live-very-secret" } },
    );
    expect(c.sessions.key.reveal()).toBe("file-secret-value-0123456789abcdef0123");
    const a = c.servers.a as { url: string; headers: Record<string, Secret> };
    expect(a.url).toBe("http://127.0.0.1:9/mcp");
    expect(a.headers["x-api-key"]).toBeInstanceOf(Secret);
    for (const s of [JSON.stringify(c), inspect(c, { depth: 10 }), String(a.headers["x-api-key"]), `${c.sessions.key}`]) {
      expect(s).not.toContain("sk-live-very-secret");
      expect(s).not.toContain("file-secret-value");
    }
  });
  it("a missing reference is an error naming the field", () => {
    expect(issues({ ...base, sessions: { key: "${env:NOPE}" } }).join()).toMatch(/sessions\.key: environment variable NOPE is not set/);
    expect(issues({ ...base, sessions: { key: "${file:/nonexistent/x}" } }).join()).toMatch(/sessions\.key: cannot read file/);
    expect(issues({ ...base, sessions: { key: "${magic:x}" } }).join()).toMatch(/unknown reference scheme "magic"/);
  });
  it("the committed JSON Schema is current (run: node gateway/scripts/gen-schema.ts)", () => {
    expect(readFileSync(join(ROOT, "gateway/config.schema.json"), "utf8")).toBe(configJsonSchema());
  });
  it("every example config validates", () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.name === "node_modules") continue;
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ya?ml$/.test(e.name) && readFileSync(p, "utf8").includes("servers:")) files.push(p);
      }
    };
    walk(join(ROOT, "examples"));
    expect(files.length).toBeGreaterThan(0);
    // Any ${env:X} gets a placeholder that is both a valid URL and long enough for a key.
    const env = new Proxy({}, { get: () => "https://127.0.0.1:9/placeholder-0123456789abcdef0123456789" }) as NodeJS.ProcessEnv;
    // Files written at deploy time (the compose Vault seed job's vault/role-id, vault/secret-id) get one too;
    // every other ${file:…} must exist. examples/compose/compose.test.ts validates that config with the real files.
    for (const f of files) {
      const file = (p: string) =>
        p.startsWith("vault/") ? "placeholder" : readFileSync(resolve(dirname(f), p), "utf8").replace(/\r?\n$/, "");
      expect(() => loadConfigFile(f, { env, resolvers: { file } }), f).not.toThrow();
    }
  });
});

describe("CLI", () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 15_000 });
  it("--help, --version", () => {
    expect(run("--help")).toMatchObject({ status: 0, stdout: expect.stringContaining("mcp-gateway --config") });
    expect(run("--version").stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
  it("validate: 0 for a valid file, non-zero with the field path for an invalid one", () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const good = join(dir, "good.yaml");
    writeFileSync(good, `sessions: { key: "${TEST_KEY}" }\nservers:\n  a: { url: "http://127.0.0.1:1/mcp" }\n`);
    expect(run("validate", "--config", good)).toMatchObject({ status: 0 });
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, `sessions: { key: "${TEST_KEY}" }\nservers:\n  a: { url: 12 }\n`);
    const r = run("validate", "--config", bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("servers.a");
    const yaml = join(dir, "yaml.yaml");
    writeFileSync(yaml, "servers: [unclosed");
    expect(run("validate", "--config", yaml)).toMatchObject({ status: 1, stderr: expect.stringContaining("not valid YAML") });
    expect(run("validate", "--config", join(dir, "missing.yaml"))).toMatchObject({
      status: 1,
      stderr: expect.stringContaining("cannot read"),
    });
    expect(run("validate")).toMatchObject({ status: 2 });
  });
});
