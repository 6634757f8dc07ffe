// toolConfigCache: a tool's config is made once per process (per-request servers reuse it) with raw zod
// shapes wrapped once; structuredResult: summary plus JSON as text, and the same as structured content.

import { describe, expect, it } from "vitest";
import { z } from "zod";
import { retryAfterMs, structuredResult, toolConfigCache, toolRunner } from "../src/index.ts";

describe("toolConfigCache", () => {
  it("makes each config once and wraps raw shapes in z.object", () => {
    const once = toolConfigCache();
    let made = 0;
    const make = () => {
      made++;
      return { title: "t", inputSchema: { id: z.string() }, outputSchema: z.object({ ok: z.boolean() }) };
    };
    const a = once("tool", make);
    expect(once("tool", make)).toBe(a);
    expect(made).toBe(1);
    expect(a.inputSchema).toBeInstanceOf(z.ZodObject);
    expect((a.inputSchema as unknown as z.ZodObject).parse({ id: "x" })).toEqual({ id: "x" });
    // A second cache is separate (each adapter has its own).
    toolConfigCache()("tool", make);
    expect(made).toBe(2);
  });

  it("structuredResult", () => {
    expect(structuredResult({ n: 1 }, "one")).toEqual({
      content: [{ type: "text", text: 'one\n{\n  "n": 1\n}' }],
      structuredContent: { n: 1 },
    });
  });
});

describe("toolRunner", () => {
  it("passes a result through and turns a throw into the adapter's tool error", async () => {
    const run = toolRunner((e) => ({ isError: true, content: [{ type: "text", text: `failed: ${(e as Error).message}` }] }));
    expect(await run(async () => structuredResult({}, "fine"))).toEqual(structuredResult({}, "fine"));
    expect(await run(async () => Promise.reject(new Error("boom")))).toEqual({
      isError: true,
      content: [{ type: "text", text: "failed: boom" }],
    });
  });
});

describe("retryAfterMs", () => {
  it("delta seconds, an HTTP date, or 1 s for a missing or odd value", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs("0")).toBe(0);
    expect(retryAfterMs(null)).toBe(1000);
    expect(retryAfterMs("soon")).toBe(1000);
    expect(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT")).toBe(0);
    const later = retryAfterMs(new Date(Date.now() + 60_000).toUTCString());
    expect(later).toBeGreaterThan(55_000);
    expect(later).toBeLessThanOrEqual(60_000);
  });
});
