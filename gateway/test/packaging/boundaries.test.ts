// Module boundaries the package depends on: nothing in gateway/src imports a file outside gateway/ (the
// tarball would not run), and the OpenTelemetry part imports only the published diagnostics contract.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = fileURLToPath(new URL("../../src/", import.meta.url));
const pkg = resolve(src, "..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)"(\.{1,2}\/[^"]+)"/g)) out.push(m[1]!);
  return out;
}

describe("gateway/src module boundaries", () => {
  const files = sources(src);

  it("no import leaves the gateway package", () => {
    const escaping = files.flatMap((f) =>
      relativeImports(f)
        .filter((s) => relative(pkg, resolve(dirname(f), s)).startsWith(".."))
        .map((s) => `${relative(pkg, f)} → ${s}`),
    );
    expect(escaping).toEqual([]);
  });

  it("src/otel imports only ../diagnostics-contract.ts outside itself", () => {
    const otel = join(src, "otel");
    const outside = files
      .filter((f) => f.startsWith(otel))
      .flatMap((f) => relativeImports(f).map((s) => ({ f, target: resolve(dirname(f), s) })))
      .filter(({ target }) => !target.startsWith(otel))
      .map(({ target }) => relative(src, target));
    expect([...new Set(outside)]).toEqual(["diagnostics-contract.ts"]);
  });

  it("the core loads src/otel only lazily, from assemble.ts", () => {
    const otel = join(src, "otel");
    const importers = files
      .filter((f) => !f.startsWith(otel))
      .filter((f) => relativeImports(f).some((s) => resolve(dirname(f), s).startsWith(otel)))
      .map((f) => relative(src, f));
    expect(importers).toEqual(["assemble.ts"]);
    expect(readFileSync(join(src, "assemble.ts"), "utf8")).toMatch(/await import\("\.\/otel\/index\.ts"\)/);
  });
});
