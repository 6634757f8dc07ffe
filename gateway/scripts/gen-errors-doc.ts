// Regenerates the error table in docs/errors.md from gateway/src/errors.ts (between the markers).
// test/errors-doc.test.ts fails when the two disagree; run: node gateway/scripts/gen-errors-doc.ts
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ERRORS } from "../src/errors.ts";

export const DOC = new URL("../../docs/errors.md", import.meta.url);
export const BEGIN = "<!-- errors:begin (generated from gateway/src/errors.ts) -->";
export const END = "<!-- errors:end -->";

export function errorTable(): string {
  const rows = Object.entries(ERRORS).map(([code, s]) => `| \`${code}\` | ${s.rpc} | ${s.http} | ${s.message} |`);
  return ["| Code (`error.data.gatewayCode`) | JSON-RPC `error.code` | HTTP status | Meaning |", "|---|---|---|---|", ...rows].join("\n");
}

export function withTable(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a === -1 || b === -1) throw new Error("docs/errors.md lacks the table markers");
  return `${doc.slice(0, a + BEGIN.length)}\n${errorTable()}\n${doc.slice(b)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(DOC, withTable(readFileSync(DOC, "utf8")));
}
