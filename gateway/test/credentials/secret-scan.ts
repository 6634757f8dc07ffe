// Secret-scan helper for tests (invariant 4: no secret value in logs, spans, audit records or
// errors). Given the secret strings of a run and everything the run produced, fail if any output
// contains a secret, verbatim or in the encodings a leak usually takes (base64 as in Basic
// credentials, URL-encoding, JSON string escaping).

import { Buffer } from "node:buffer";
import { inspect } from "node:util";

/** Text forms of one captured output: strings as-is; errors with stack, own fields and causes; objects as JSON and inspect. */
export function renderOutput(o: unknown, depth = 0): string {
  if (typeof o === "string") return o;
  if (o === null || o === undefined || typeof o !== "object") return String(o);
  const parts: string[] = [];
  if (o instanceof Error) {
    parts.push(o.name, o.message, o.stack ?? "");
    for (const k of Object.getOwnPropertyNames(o)) {
      if (k === "stack" || k === "message") continue;
      parts.push(`${k}=${safeJson((o as unknown as Record<string, unknown>)[k])}`);
    }
    if (o.cause !== undefined && depth < 5) parts.push(renderOutput(o.cause, depth + 1));
    if (o instanceof AggregateError) for (const e of o.errors) parts.push(renderOutput(e, depth + 1));
  }
  parts.push(safeJson(o));
  parts.push(inspect(o, { depth: 8, showHidden: false, getters: false }));
  return parts.join("\n");
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return inspect(v, { depth: 4 });
  }
}

/** The forms in which `secret` may appear in text. */
export function secretVariants(secret: string): string[] {
  const out = new Set<string>([secret]);
  out.add(encodeURIComponent(secret));
  out.add(JSON.stringify(secret).slice(1, -1));
  // base64 at each of the three byte alignments (a secret inside "user:password" shifts it); the
  // edge characters depend on neighbours, so only the stable middle is searched.
  const bytes = Buffer.from(secret, "utf8");
  if (bytes.length >= 6) {
    for (let pad = 0; pad < 3; pad++) {
      const b64 = Buffer.concat([Buffer.alloc(pad), bytes]).toString("base64");
      const start = Math.ceil((pad * 4) / 3) + 1;
      const end = Math.floor(((pad + bytes.length) * 4) / 3) - 1;
      if (end - start >= 6) out.add(b64.slice(start, end));
    }
  }
  return [...out].filter((v) => v.length >= 4);
}

export interface SecretFinding {
  readonly secretIndex: number;
  readonly outputIndex: number;
  readonly variant: "verbatim" | "encoded";
}

/** Where secrets appear in outputs (empty when clean). Findings never include the secret itself. */
export function findSecrets(secrets: readonly string[], outputs: readonly unknown[]): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const texts = outputs.map((o) => renderOutput(o));
  secrets.forEach((s, si) => {
    if (s.length < 4) throw new Error(`secret #${si} is too short to scan for reliably`);
    const variants = secretVariants(s);
    texts.forEach((t, oi) => {
      const hit = variants.findIndex((v) => t.includes(v));
      if (hit >= 0) findings.push({ secretIndex: si, outputIndex: oi, variant: hit === 0 ? "verbatim" : "encoded" });
    });
  });
  return findings;
}

/** Throw if any output contains any secret. The message names indexes only, never the secret. */
export function assertNoSecrets(secrets: readonly string[], outputs: readonly unknown[]): void {
  const f = findSecrets(secrets, outputs);
  if (f.length > 0) {
    throw new Error(
      `secret leak: ${f.map((x) => `secret #${x.secretIndex} (${x.variant}) in output #${x.outputIndex}`).join("; ")} of ${outputs.length} outputs`,
    );
  }
}

/** A capture for a test run: logger lines, errors, events, records; scan it all at the end. */
export class OutputCapture {
  readonly items: unknown[] = [];
  add(...o: unknown[]): void {
    this.items.push(...o);
  }
  /** A write function for jsonLogger(level, write). */
  readonly write = (line: string): void => {
    this.items.push(line);
  };
  assertClean(secrets: readonly string[]): void {
    assertNoSecrets(secrets, this.items);
  }
}
