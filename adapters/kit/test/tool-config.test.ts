// toolConfigCache: a tool's config is made once per process (per-request servers reuse it) with raw zod
// shapes wrapped once; structuredResult: summary plus JSON as text, and the same as structured content.

import { describe, expect, it } from "vitest";
import { z } from "zod";
import { structuredResult, toolConfigCache } from "../src/index.ts";

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
