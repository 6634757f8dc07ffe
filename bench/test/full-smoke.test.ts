// Keeps the full-pipeline bench from rotting: a very short run of bench/full.ts (loopback OpenID provider, real bao,
// OTLP receiver, audit file, decision log) for direct, pass-through and full, plus a few sessions. Figures are not checked.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findBao } from "../../gateway/test/credentials/bao.ts";
import { startFastBackend } from "../fast-backend.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const bao = findBao() ?? (existsSync(join(ROOT, ".cache/tools/bin/bao")) ? join(ROOT, ".cache/tools/bin/bao") : undefined);
// nginx (the plain proxy hop) joins the run where the machine has it (.ci/install-nginx.sh).
const nginx = ["nginx", "/usr/sbin/nginx"].some((b) => spawnSync(b, ["-v"], { stdio: "ignore" }).status === 0);
const scenarios = nginx ? ["direct", "nginx", "pass", "full"] : ["direct", "pass", "full"];
const tmp = mkdtempSync(join(tmpdir(), "bench-full-smoke-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  scenario: string;
  failure?: string;
  points: { ok: number; errors: number }[];
  evidence: Record<string, number>;
  sessions?: { opened: number; sampleCallsOk: number };
}

describe("full-pipeline bench", () => {
  it("the fast backend refuses a call without the required credential", async () => {
    const b = await startFastBackend({ requireHeader: ["x-api-key", "s3cret"] });
    try {
      const post = (headers: Record<string, string>) =>
        fetch(b.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}" }).then((r) => r.status);
      expect(await post({})).toBe(401);
      expect(await post({ "x-api-key": "wrong" })).toBe(401);
      expect(await post({ "x-api-key": "s3cret" })).not.toBe(401);
    } finally {
      await b.close();
    }
  });

  it.skipIf(!bao)(
    "runs direct, nginx (where installed), pass and full with zero errors, and every stage of full does its work",
    async () => {
      const out = join(tmp, "full.json");
      const child = spawn(process.execPath, [join(ROOT, "bench", "full.ts")], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          BAO_BIN: bao,
          BENCH_SCENARIOS: scenarios.join(","),
          BENCH_CONCURRENCY: "1,4",
          BENCH_DURATION: "0.4",
          BENCH_WARMUP: "0.1",
          BENCH_SESSIONS: "20",
          // Unpinned: other test workers share the machine; this checks the harness, not the figures.
          BENCH_PIN: "0",
          BENCH_OUT: out,
        },
      });
      let log = "";
      child.stdout.on("data", (d: Buffer) => {
        log += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        log += d.toString();
      });
      const code = await new Promise<number | null>((r) => child.on("exit", r));
      expect(code, log).toBe(0);
      const runs = (JSON.parse(readFileSync(out, "utf8")) as { runs: Run[] }).runs;
      expect(runs.map((r) => r.scenario)).toEqual(scenarios);
      for (const r of runs) {
        expect(r.failure, log).toBeUndefined();
        for (const p of r.points) {
          expect(p.errors, log).toBe(0);
          expect(p.ok, log).toBeGreaterThan(0);
        }
      }
      const full = runs.find((r) => r.scenario === "full")!;
      expect(full.evidence.decisionLogLines).toBeGreaterThan(0);
      expect(full.evidence.otlpRequests).toBeGreaterThan(0);
      expect(full.evidence.auditBytes).toBeGreaterThan(0);
      expect(full.sessions).toMatchObject({ opened: 20, sampleCallsOk: 20 });
    },
    180_000,
  );
});
