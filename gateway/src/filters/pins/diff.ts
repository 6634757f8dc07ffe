// Human-readable difference between a pinned tool definition and the one a backend serves now, field
// by field, as a unified-style line diff of the pretty-printed JSON (for `mcp-gateway tools diff`).

import { canonicalJson, PINNED_FIELDS, type ToolDefinition } from "../tool-catalog/catalog.ts";

/** Lines beyond which the diff of one field is shown as whole old/new values (LCS is quadratic). */
const MAX_LCS_LINES = 2000;

function pretty(v: unknown): string[] {
  if (v === undefined) return [];
  // Canonical key order, so a reordering alone never shows as a change.
  return JSON.stringify(JSON.parse(canonicalJson(v)), null, 2).split("\n");
}

/** Line diff (longest common subsequence): "  same", "- removed", "+ added". */
export function lineDiff(a: string[], b: string[]): string[] {
  if (a.length > MAX_LCS_LINES || b.length > MAX_LCS_LINES) return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)];
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  while (i < n) out.push(`- ${a[i++]}`);
  while (j < m) out.push(`+ ${b[j++]}`);
  return out;
}

export interface FieldChange {
  field: (typeof PINNED_FIELDS)[number];
  lines: string[];
}

/** The fields that differ, each with its line diff. */
export function definitionDiff(pinned: ToolDefinition, served: ToolDefinition): FieldChange[] {
  const out: FieldChange[] = [];
  for (const field of PINNED_FIELDS) {
    const a = pinned[field];
    const b = served[field];
    if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) continue;
    out.push({ field, lines: lineDiff(pretty(a), pretty(b)) });
  }
  return out;
}
