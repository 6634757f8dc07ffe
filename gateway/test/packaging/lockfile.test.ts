// `npm ci` on any platform needs every platform's optional packages in package-lock.json. A lock written
// with omit-lockfile-registry-resolved (or by an npm that pruned them) lacks them; this keeps it whole.

import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

interface Locked {
  optionalDependencies?: Record<string, string>;
  link?: boolean;
  integrity?: string;
}

it("package-lock.json lists every optional (per-platform) dependency of every locked package", () => {
  const lock = JSON.parse(readFileSync(new URL("../../../package-lock.json", import.meta.url), "utf8")) as {
    packages: Record<string, Locked>;
  };
  const missing: string[] = [];
  for (const [at, p] of Object.entries(lock.packages)) {
    for (const dep of Object.keys(p.optionalDependencies ?? {})) {
      // npm's resolution: the nearest node_modules up from the dependent.
      let dir = at;
      let found = false;
      for (;;) {
        if (lock.packages[`${dir ? `${dir}/` : ""}node_modules/${dep}`]) {
          found = true;
          break;
        }
        if (!dir) break;
        const i = dir.lastIndexOf("/node_modules/");
        dir = i < 0 ? "" : dir.slice(0, i);
      }
      if (!found) missing.push(`${at || "(root)"} → ${dep}`);
    }
  }
  expect(missing).toEqual([]);
  // Registry packages carry their integrity, so npm ci can verify what it fetches.
  const unverified = Object.entries(lock.packages).filter(([at, p]) => at.includes("node_modules/") && !p.link && !p.integrity);
  expect(unverified.map(([at]) => at)).toEqual([]);
});
