// Config errors name the mistake (unknown key → closest valid key; union → closest branch and what is wrong;
// enum → closest value; custom messages kept), relative paths resolve against the config file's folder, and
// `validate` checks every file the config references.

import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { closest } from "../src/config/issue-messages.ts";
import { ConfigError, loadConfigFile, parseConfig } from "../src/config/load.ts";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const bundle = fileURLToPath(new URL("../../policies/bundle/bundle.tar.gz", import.meta.url));
const base = { sessions: { key: "k".repeat(40) }, servers: { a: { url: "http://127.0.0.1:1/mcp" } } };

function messageOf(tree: unknown): string {
  try {
    parseConfig(tree, "/");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("config was accepted");
}

describe("config errors name the mistake", () => {
  it("a misspelt stdio key: the stdio branch, the missing command and the closest key", () => {
    const m = messageOf({ ...base, servers: { a: { comand: "node", args: [] } } });
    // The schema's own message stays, followed by the branch the value resembles.
    expect(m).toContain("servers.a: expected one of: { url }, { sse } or { command, args, env }; closest form:");
    expect(m).toContain("servers.a.command: required");
    expect(m).toContain('unknown key "comand" (did you mean "command"?)');
    expect(m).not.toContain('unknown key "args"');
  });
  it("an unknown key names the closest valid key, at any depth", () => {
    expect(messageOf({ ...base, listn: {} })).toContain('(root): unknown key "listn" (did you mean "listen"?)');
    expect(messageOf({ ...base, servers: { a: { url: "http://127.0.0.1:1/mcp", timout: 5 } } })).toContain(
      'servers.a: unknown key "timout" (did you mean "timeoutMs"?)',
    );
    expect(messageOf({ ...base, auth: { dev: true }, authz: { engin: { type: "wasm" } } })).toContain(
      'authz: unknown key "engin" (did you mean "engine"?)',
    );
  });
  it("a key far from every valid one lists the valid keys", () => {
    expect(messageOf({ ...base, logging: { zzzzzzzz: 1 } })).toContain('logging: unknown key "zzzzzzzz" (valid keys: level)');
  });
  it("a misspelt enum value names the closest allowed value", () => {
    expect(messageOf({ ...base, logging: { level: "inf" } })).toContain(
      'logging.level: "inf" is not one of "debug", "info", "warn", "error", "silent" (did you mean "info"?)',
    );
  });
  it("a misspelt engine type: the field path and the allowed forms, not `authz: Invalid input`", () => {
    const m = messageOf({ ...base, auth: { dev: true }, authz: { engine: { type: "wsam" } } });
    expect(m).toContain('authz.engine.type: expected { type: "wasm", bundle? } or { type: "sidecar", url }');
    expect(m).not.toContain("Invalid input");
  });
  it("custom refinement messages are kept", () => {
    expect(messageOf({ ...base, sessions: { key: "short" } })).toContain("sessions.key: session key must be at least 32 characters");
  });
  it("a valid key inside a longer one is the suggestion (decisionCache → cache)", () => {
    expect(messageOf({ ...base, auth: { dev: true }, authz: { engine: { type: "wasm" }, decisionCache: {} } })).toContain(
      'authz: unknown key "decisionCache" (did you mean "cache"?)',
    );
  });
  it("closest() ignores case and refuses far-fetched suggestions", () => {
    expect(closest("Comand", ["command", "args"])).toBe("command");
    expect(closest("xyz", ["command", "args"])).toBeUndefined();
  });
});

describe("paths resolve against the config file's folder; validate checks referenced files", () => {
  const dir = mkdtempSync(join(tmpdir(), "mgw-paths-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "policy"));
  mkdirSync(join(dir, "work"));
  copyFileSync(bundle, join(dir, "policy/bundle.tar.gz"));
  const yaml = (bundlePath: string) =>
    [
      `sessions: { key: "${"k".repeat(40)}" }`,
      "auth: { dev: true }",
      `authz: { engine: { type: wasm, bundle: ${bundlePath} } }`,
      "telemetry: { audit: { enabled: true, sink: file, path: logs/audit.jsonl } }",
      "servers:",
      "  s: { command: node, args: [server.js], cwd: work }",
    ].join("\n");
  writeFileSync(join(dir, "good.yaml"), yaml("policy/bundle.tar.gz"));
  writeFileSync(join(dir, "missing.yaml"), yaml("policy/nope.tar.gz"));

  it("bundle, stdio cwd and audit path are absolute, under the config's folder, whatever the working directory", () => {
    const c = loadConfigFile(join(dir, "good.yaml"));
    expect(c.authz && c.authz.engine.type === "wasm" && c.authz.engine.bundle).toBe(join(dir, "policy/bundle.tar.gz"));
    expect("command" in c.servers.s! && c.servers.s.cwd).toBe(join(dir, "work"));
    expect(c.telemetry.audit.path).toBe(join(dir, "logs/audit.jsonl"));
  });

  it("validate names each missing file with its field and exits 1; a complete config exits 0", async () => {
    const bad = await run(process.execPath, [cli, "validate", "--config", join(dir, "missing.yaml")], { cwd: tmpdir() }).then(
      () => {
        throw new Error("validate accepted a missing bundle");
      },
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`authz.engine.bundle: ${join(dir, "policy/nope.tar.gz")} does not exist`);
    // The audit file's folder does not exist either.
    expect(bad.stderr).toContain(`telemetry.audit.path: ${join(dir, "logs")} does not exist`);
    mkdirSync(join(dir, "logs"));
    const good = await run(process.execPath, [cli, "validate", "--config", join(dir, "good.yaml")], { cwd: tmpdir() });
    expect(good.stdout).toContain("valid (1 servers)");
  });
});
