// Tool names from operations: operationId, else method and path; only the characters MCP allows,
// at most 64 of them, shortened deterministically (prefix + hash of the full name) when longer.

import { createHash } from "node:crypto";

export const MAX_TOOL_NAME = 64;
const HASH_CHARS = 8;

/** MCP tool names (2025-11-25 "Tool names"): A–Z a–z 0–9 _ - . only. */
export function sanitize(raw: string): string {
  return raw
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9_.-]+/g, "_")
    .replace(/_{2,}/g, "_")
    .replace(/^[_.-]+|[_.-]+$/g, "");
}

/** `GET /repos/{owner}/{repo}` → `get_repos_owner_repo`. */
export function nameFromPath(method: string, path: string): string {
  return sanitize(`${method.toLowerCase()}_${path.replace(/[{}]/g, "")}`);
}

/** Longer than 64: the first 55 characters, "_", and 8 hex of SHA-256 of the full name (stable across runs). */
export function shorten(name: string, max = MAX_TOOL_NAME): string {
  if (name.length <= max) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, HASH_CHARS);
  const head = name.slice(0, max - HASH_CHARS - 1).replace(/[_.-]+$/, "");
  return `${head}_${hash}`;
}

/** Where names come from: operationId with method+path as fallback (default), operationId only, or path only. */
export type NameSource = "operationId-or-path" | "operationId" | "path";

/** The name an operation gets before collision checks; undefined when the chosen source gives nothing. */
export function toolName(operationId: string | undefined, method: string, path: string, source: NameSource): string | undefined {
  let base: string;
  if (source === "path") base = nameFromPath(method, path);
  else {
    base = operationId ? sanitize(operationId) : "";
    if (!base && source === "operationId-or-path") base = nameFromPath(method, path);
  }
  return base ? shorten(base) : undefined;
}
