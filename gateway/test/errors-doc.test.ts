// docs/errors.md and gateway/src/errors.ts agree (Fastify-style: the docs cannot drift from the code).
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { DOC, withTable } from "../scripts/gen-errors-doc.ts";
import { ERRORS } from "../src/errors.ts";

it("docs/errors.md lists every error code with its JSON-RPC code and HTTP status", () => {
  const doc = readFileSync(DOC, "utf8");
  expect(doc, "run: node gateway/scripts/gen-errors-doc.ts").toBe(withTable(doc));
  for (const [code, s] of Object.entries(ERRORS)) expect(doc).toContain(`| \`${code}\` | ${s.rpc} | ${s.http} |`);
});

it("gateway codes are unique within the gateway range (-32050..-32099)", () => {
  const own = Object.values(ERRORS)
    .map((s) => s.rpc)
    .filter((c) => c <= -32050 && c >= -32099);
  expect(new Set(own).size).toBe(own.length);
});
