// Test helpers for the real OPA binary: locate it (PATH, $OPA_BIN, $TOOLS_DIR, .cache/tools), and run
// it as a sidecar server on a free loopback port. Tests FAIL without it: CI installs it.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const POLICIES_DIR = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const REGO_DIR = join(POLICIES_DIR, "rego");
export const BUNDLE_PATH = join(POLICIES_DIR, "bundle", "bundle.tar.gz");
export const OPA_VERSION = "1.22.2";

function isOpa(p: string): boolean {
  if (!existsSync(p)) return false;
  try {
    return execFileSync(p, ["version"], { encoding: "utf8", timeout: 10_000 }).includes("Version:");
  } catch {
    return false;
  }
}

let found: string | undefined;

/** Path of the opa binary, or throw (never skip: the tests exist to prove the real OPA agrees). */
export function findOpa(): string {
  if (found) return found;
  const candidates = [
    ...(process.env.PATH ?? "").split(delimiter).map((d) => join(d, "opa")),
    process.env.OPA_BIN,
    process.env.TOOLS_DIR && join(process.env.TOOLS_DIR, "bin", "opa"),
    join(POLICIES_DIR, "..", ".cache", "tools", "bin", "opa"),
  ].filter((c): c is string => typeof c === "string" && c.length > 0);
  for (const c of candidates) {
    if (isOpa(c)) {
      found = c;
      return c;
    }
  }
  throw new Error(`opa binary not found (PATH, $OPA_BIN, $TOOLS_DIR/bin, .cache/tools/bin); run policies/scripts/install-opa.sh`);
}

/** The parts of the policy's data (rego/data.json, `data.mcp.config`) that tests change. */
export interface PolicyConfig {
  roles: Record<string, unknown[]>;
  mfa: { actions: string[]; targets: Record<string, string[]>; [k: string]: unknown };
  require_approval: Record<string, string[]>;
  [k: string]: unknown;
}

/**
 * Build a wasm bundle of the project's policy into `dir`, with its data (`data.mcp.config`) changed by `edit`:
 * the tests' way to run the real rules under a test's grants or switches. Returns the bundle's path.
 */
export async function buildPolicyBundle(dir: string, edit: (config: PolicyConfig) => void): Promise<string> {
  const src = await mkdtemp(join(dir, "rego-"));
  await copyFile(join(REGO_DIR, "authz.rego"), join(src, "authz.rego"));
  const data = JSON.parse(await readFile(join(REGO_DIR, "data.json"), "utf8"));
  edit(data.mcp.config);
  await writeFile(join(src, "data.json"), JSON.stringify(data));
  const out = join(dir, "bundle.tar.gz");
  execFileSync(findOpa(), ["build", "-t", "wasm", "-e", "mcp/authz/decision", "-e", "mcp/authz/filter", "-o", out, src]);
  return out;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no port"))));
    });
  });
}

export interface OpaServer {
  readonly url: string;
  readonly port: number;
  readonly proc: ChildProcess;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

async function waitHealthy(url: string, proc: ChildProcess, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
      if (r.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Start `opa run --server` on 127.0.0.1 (a given port, or a free one) over `paths` (default the Rego sources). */
export async function startOpa(opts: { port?: number; paths?: string[] } = {}): Promise<OpaServer> {
  const opa = findOpa();
  const paths = opts.paths ?? [REGO_DIR];
  // A port found free can be taken before OPA binds it: retry a few times with a new one.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort());
    const proc = spawn(
      opa,
      ["run", "--server", "--addr", `127.0.0.1:${port}`, "--log-level", "error", "--ignore", "*_test.rego", ...paths],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    proc.stderr?.on("data", (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString();
    });
    const url = `http://127.0.0.1:${port}`;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    if (await waitHealthy(url, proc, 15_000)) {
      return {
        url,
        port,
        proc,
        async kill() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
          await exited;
        },
      };
    }
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await exited;
    if (opts.port !== undefined && attempt >= 2) throw new Error(`opa did not start on port ${port}: ${stderr}`);
  }
  throw new Error("opa did not start after 5 attempts");
}
