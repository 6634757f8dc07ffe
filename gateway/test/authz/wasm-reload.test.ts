// The embedded engine's bundle lifecycle: a bad bundle at start refuses to start; a new bundle
// written over the file is picked up (and the decision cache flushed); a corrupt one keeps the last good.

import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_PATH, findOpa, REGO_DIR } from "../../../policies/test/opa.ts";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { call } from "./inputs.ts";

const run = promisify(execFile);
let dir: string;
/** A bundle whose data also grants developers everything on servicenow. */
let altBundle: string;
/** A valid wasm bundle of a policy without the filter entrypoint. */
let partialBundle: string;

async function build(out: string, data: unknown, entrypoints: string[], rego?: string): Promise<void> {
  const src = await mkdtemp(join(dir, "src-"));
  if (rego) await writeFile(join(src, "authz.rego"), rego);
  else await copyFile(join(REGO_DIR, "authz.rego"), join(src, "authz.rego"));
  await writeFile(join(src, "data.json"), JSON.stringify(data));
  await run(findOpa(), ["build", "-t", "wasm", ...entrypoints.flatMap((e) => ["-e", e]), "-o", out, src], { cwd: src });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "authz-reload-"));
  const data = JSON.parse(await readFile(join(REGO_DIR, "data.json"), "utf8"));
  data.mcp.config.roles.developers.push({ server: "servicenow", actions: ["read", "write", "execute"] });
  altBundle = join(dir, "alt.tar.gz");
  partialBundle = join(dir, "partial.tar.gz");
  await Promise.all([
    build(altBundle, data, ["mcp/authz/decision", "mcp/authz/filter"]),
    build(
      partialBundle,
      data,
      ["mcp/authz/decision"],
      'package mcp.authz\n\ndefault decision := {"allow": false, "reason": "only a decision"}\n',
    ),
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function recorder() {
  const lines: Array<{ level: string; message: string }> = [];
  return {
    lines,
    logger: {
      info: (message: string) => lines.push({ level: "info", message }),
      warn: (message: string) => lines.push({ level: "warn", message }),
      error: (message: string) => lines.push({ level: "error", message }),
    },
  };
}

function nextReload(engine: WasmEngine, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error("no reload"));
    }, ms);
    const off = engine.onReload((rev) => {
      clearTimeout(t);
      off();
      resolve(rev);
    });
  });
}

const devOnServicenow = call(["developers"], ["mfa"], "servicenow", "create_incident", "write");

describe("wasm bundle loading and hot reload", () => {
  it("refuses to start on a missing, corrupt or incomplete bundle", async () => {
    await expect(WasmEngine.create({ bundlePath: join(dir, "missing.tar.gz"), watch: false })).rejects.toThrow(/cannot read policy bundle/);
    const corrupt = join(dir, "corrupt.tar.gz");
    await writeFile(corrupt, "this is not a bundle");
    await expect(WasmEngine.create({ bundlePath: corrupt, watch: false })).rejects.toThrow(/not usable: bundle is not a gzip archive/);
    await expect(WasmEngine.create({ bundlePath: partialBundle, watch: false })).rejects.toThrow(/mcp\/authz\/filter/);
  });

  it("picks up a new bundle renamed over the file, flushes the cache, and keeps the last good one on corruption", async () => {
    const live = join(dir, "live", "bundle.tar.gz");
    await run("mkdir", ["-p", join(dir, "live")]);
    await copyFile(BUNDLE_PATH, live);
    const { lines, logger } = recorder();
    const engine = await WasmEngine.create({ bundlePath: live, debounceMs: 20, logger });
    const authorizer = new Authorizer({ engine, cache: { ttlMs: 60_000 }, decisionLog: { enabled: false }, logger });
    try {
      const rev0 = engine.revision;
      expect(rev0).toMatch(/^sha256:[0-9a-f]{16}$/);
      const before = await authorizer.decide(devOnServicenow);
      expect(before.decision.allow).toBe(false);
      expect((await authorizer.decide(devOnServicenow)).cached).toBe(true);

      // Atomic replace, as build.sh does.
      const reloaded = nextReload(engine);
      await copyFile(altBundle, `${live}.tmp`);
      await rename(`${live}.tmp`, live);
      const rev1 = await reloaded;
      expect(rev1).not.toBe(rev0);
      expect(engine.revision).toBe(rev1);
      const after = await authorizer.decide(devOnServicenow);
      expect(after.cached).toBe(false); // flushed on reload
      expect(after.decision.allow).toBe(true);
      expect(after.revision).toBe(rev1);

      // Corrupt bundle written in place: logged, last good policy kept.
      await writeFile(live, "garbage");
      await expect(nextReload(engine, 600)).rejects.toThrow("no reload");
      expect(engine.revision).toBe(rev1);
      expect((await engine.decide(devOnServicenow)).allow).toBe(true);
      expect(lines.some((l) => l.level === "error" && /failed to load; keeping the last good policy/.test(l.message))).toBe(true);

      // A valid bundle lacking an entrypoint is refused the same way.
      await copyFile(partialBundle, live);
      await expect(nextReload(engine, 600)).rejects.toThrow("no reload");
      expect(engine.revision).toBe(rev1);

      // The original bundle back: decisions change back.
      const back = nextReload(engine);
      await copyFile(BUNDLE_PATH, live);
      expect(await back).toBe(rev0);
      expect((await authorizer.decide(devOnServicenow)).decision.allow).toBe(false);
    } finally {
      await authorizer.close();
    }
  });
});
