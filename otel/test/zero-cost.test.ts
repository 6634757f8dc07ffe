// Telemetry off costs nothing: the real CLI, started with telemetry disabled and serving a request, never loads a
// module of gateway/src/otel/ nor any OpenTelemetry package (a module load hook records every module the process
// loads); with telemetry enabled the same process does (the control). With nothing loaded, nothing subscribes to
// the diagnostics channels and every publish is skipped (otel/test/telemetry.test.ts "zero cost when off").

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "otel-zero-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = join(dir, "record-loads.mjs");
writeFileSync(
  HOOK,
  [
    'import { registerHooks } from "node:module";',
    'import { appendFileSync } from "node:fs";',
    "registerHooks({ load(url, context, next) { appendFileSync(process.env.LOADED_MODULES, url + '\\n'); return next(url, context); } });",
  ].join("\n"),
);

/** Start the CLI with `telemetry`, send one request, stop it; the URLs of every module it loaded. */
async function loadedModules(name: string, telemetry: string): Promise<string[]> {
  const config = join(dir, `${name}.yaml`);
  const loaded = join(dir, `${name}.loaded`);
  writeFileSync(loaded, "");
  writeFileSync(
    config,
    [
      "listen: { host: 127.0.0.1, port: 0 }",
      `sessions: { key: "${"k".repeat(48)}" }`,
      "logging: { level: warn }",
      `telemetry: ${telemetry}`,
      "servers:",
      "  nowhere:",
      '    url: "http://127.0.0.1:9/mcp"',
    ].join("\n"),
  );
  const child = spawn(process.execPath, ["--import", HOOK, join(ROOT, "gateway/src/cli.ts"), "--config", config], {
    cwd: ROOT,
    env: { ...process.env, LOADED_MODULES: loaded },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr.on("data", (c: Buffer) => (out += c));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`not ready after 60 s: ${out}`)), 60_000);
      child.on("exit", (c) => reject(new Error(`exited ${c}: ${out}`)));
      child.stdout.on("data", (c: Buffer) => {
        out += c;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    // A request through the listener and the relay's refusal path (the backend is not there).
    const r = await fetch(`${url}/mcp/nowhere`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    await r.text();
  } finally {
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(t);
  }
  return readFileSync(loaded, "utf8").split("\n").filter(Boolean);
}

const otelModules = (urls: string[]) => urls.filter((u) => u.includes("/gateway/src/otel/") || u.includes("/@opentelemetry/"));

describe("telemetry off loads nothing of OpenTelemetry", () => {
  it("off: no module of gateway/src/otel/ and no @opentelemetry package; on: both (control)", async () => {
    const off = await loadedModules("off", "{ enabled: false, audit: { enabled: false } }");
    expect(off.some((u) => u.includes("/gateway/src/cli.ts"))).toBe(true);
    expect(otelModules(off)).toEqual([]);
    const on = await loadedModules("on", '{ enabled: true, otlp: { endpoint: "http://127.0.0.1:9" }, audit: { enabled: false } }');
    expect(on.some((u) => u.includes("/gateway/src/otel/span-export.ts"))).toBe(true);
    expect(on.some((u) => u.includes("/@opentelemetry/"))).toBe(true);
  }, 120_000);
});
