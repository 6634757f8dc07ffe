// The Rego unit tests (policies/rego/*_test.rego) run by the real `opa test`, and the committed
// bundle checked against the sources, as part of the vitest suite.

import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { findOpa, POLICIES_DIR, REGO_DIR } from "./opa.ts";

const run = promisify(execFile);

describe("policies", () => {
  it("opa test passes every Rego unit test", async () => {
    const opa = findOpa();
    const { stdout } = await run(opa, ["test", REGO_DIR, "-v"], { timeout: 60_000 });
    expect(stdout).toMatch(/PASS: \d+\/\d+/);
    expect(stdout).not.toMatch(/FAIL/);
  });

  it("opa check --strict accepts the sources", async () => {
    await run(findOpa(), ["check", "--strict", REGO_DIR], { timeout: 60_000 });
  });

  it("the committed bundle matches the Rego sources (check-bundle.sh)", async () => {
    const opa = findOpa();
    const { stderr } = await run(join(POLICIES_DIR, "scripts", "check-bundle.sh"), [], {
      timeout: 120_000,
      env: { ...process.env, OPA_BIN: opa },
    });
    expect(stderr).toContain("matches the sources");
  });
});
