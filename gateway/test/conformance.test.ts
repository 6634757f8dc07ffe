// The official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios) run against the
// fixture server direct and through a gateway route: whatever passes direct must pass through the gateway.
// Exceptions are pinned in conformance-expected-failures.yaml (the package's baseline format); the list only shrinks.

import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startConformanceServer } from "../../examples/conformance-server/server.ts";
import { startGateway, type TestGateway } from "./helpers.ts";

const BASELINE = fileURLToPath(new URL("./conformance-expected-failures.yaml", import.meta.url));
const CLI = join(createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json"), "../dist/index.js");

/** Scenarios the fixture cannot pass direct, with the reason (none today: keep it that way). */
const DIRECT_KNOWN_FAILURES: Record<string, string> = {};

interface Check {
  id: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "INFO" | "SKIPPED";
  errorMessage?: string;
}
interface Run {
  exitCode: number | null;
  output: string;
  /** scenario → checks */
  results: Map<string, Check[]>;
}

/** The suite's own verdict for a scenario: any FAILURE or WARNING check fails it (dist/index.js, baseline check). */
const passed = (checks: Check[]) => checks.length > 0 && checks.every((c) => c.status !== "FAILURE" && c.status !== "WARNING");

/** Run every server scenario (`--suite all`, pending ones included) against url; results from --output-dir. */
async function runSuite(url: string, extraArgs: string[] = []): Promise<Run> {
  const out = await mkdtemp(join(tmpdir(), "mcp-conformance-"));
  try {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, "server", "--url", url, "--suite", "all", "--output-dir", out, ...extraArgs],
        { timeout: 15_000, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, output: stdout + stderr }),
      );
    });
    const results = new Map<string, Check[]>();
    // One folder per scenario: server-<scenario>-<ISO timestamp with : and . replaced by ->.
    for (const dir of await readdir(out)) {
      const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir);
      if (!m?.[1]) continue;
      results.set(m[1], JSON.parse(await readFile(join(out, dir, "checks.json"), "utf8")) as Check[]);
    }
    return { exitCode: code, output, results };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

function summary(checks: Check[] | undefined): string {
  if (!checks) return "no result";
  const bad = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
  return bad.length === 0 ? "pass" : bad.map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? ""}`).join(" | ");
}

let fixture: Awaited<ReturnType<typeof startConformanceServer>>;
let gw: TestGateway;
let direct: Run;
let viaGateway: Run;
let baseline: string[];

beforeAll(async () => {
  fixture = await startConformanceServer();
  gw = await startGateway({ conf: { url: fixture.url } });
  baseline = ((parse(await readFile(BASELINE, "utf8")) as { server?: unknown[] } | null)?.server ?? []).map(String);
  // Both runs at once: each scenario opens its own session, so they do not interfere (and the file stays fast).
  [direct, viaGateway] = await Promise.all([runSuite(fixture.url), runSuite(`${gw.url}/mcp/conf`, ["--expected-failures", BASELINE])]);
  // CONFORMANCE_REPORT=1 prints the per-scenario table (direct vs gateway) for reports and baseline reviews.
  if (process.env.CONFORMANCE_REPORT)
    for (const [s, c] of direct.results)
      console.log(`${s.padEnd(32)} direct: ${summary(c)}\n${"".padEnd(32)} gateway: ${summary(viaGateway.results.get(s))}`);
}, 40_000);

afterAll(async () => {
  await gw?.close();
  await fixture?.close();
});

describe("MCP conformance suite (server scenarios)", () => {
  it("runs every scenario both ways", () => {
    expect(direct.results.size, direct.output.slice(-2000)).toBeGreaterThanOrEqual(30);
    expect([...viaGateway.results.keys()].sort()).toEqual([...direct.results.keys()].sort());
  });

  it("the fixture passes every scenario direct, except the known ones", () => {
    const failing = [...direct.results].filter(([, c]) => !passed(c)).map(([s]) => s);
    expect(Object.fromEntries(failing.map((s) => [s, summary(direct.results.get(s))]))).toEqual(
      Object.fromEntries(Object.keys(DIRECT_KNOWN_FAILURES).map((s) => [s, expect.any(String)])),
    );
  });

  it("through the gateway, every scenario passes that passes direct (baseline excepted)", () => {
    const regressions = [...direct.results]
      .filter(([s, c]) => passed(c) && !baseline.includes(s) && !passed(viaGateway.results.get(s) ?? []))
      .map(([s]) => `${s}: ${summary(viaGateway.results.get(s))}`);
    expect(regressions).toEqual([]);
  });

  it("every baseline entry still fails through the gateway (the list only shrinks)", () => {
    const stale = baseline.filter((s) => passed(viaGateway.results.get(s) ?? []));
    expect(stale, "remove these from conformance-expected-failures.yaml").toEqual([]);
    // Entries name real scenarios; the package's own baseline check agrees (exit 0 = no unexpected, no stale).
    for (const s of baseline) expect(direct.results.has(s), s).toBe(true);
    expect(viaGateway.exitCode, viaGateway.output.slice(-3000)).toBe(0);
  });

  it("every baseline entry carries a one-line reason", async () => {
    const lines = (await readFile(BASELINE, "utf8")).split("\n").filter((l) => /^\s*-\s/.test(l));
    expect(lines.length).toBe(baseline.length);
    for (const l of lines) expect(l, "write `- scenario  # reason`").toMatch(/^\s*-\s+[\w-]+\s+#\s*\S.{10,}/);
  });
});
