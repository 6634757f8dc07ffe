// Tool configs built once per process, for adapters that create an SDK server per HTTP request: building
// ~20 sets of zod schemas for every request cost several milliseconds per call, so each is made once.

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

/**
 * A per-adapter `once(name, make)`: `make()` runs the first time a tool's config is asked for; later
 * calls get the same object. Raw zod shapes are wrapped in z.object() there, since the SDK would wrap
 * them again on every registerTool; the SDK accepts either form, and handler argument types stay the shape's.
 */
export function toolConfigCache(): <T>(name: string, make: () => T) => T {
  const configs = new Map<string, unknown>();
  return <T>(name: string, make: () => T): T => {
    let c = configs.get(name) as T | undefined;
    if (c === undefined) {
      c = make();
      const cfg = c as { inputSchema?: unknown; outputSchema?: unknown };
      for (const k of ["inputSchema", "outputSchema"] as const) {
        const v = cfg[k];
        if (v && typeof v === "object" && !(v instanceof z.ZodType)) cfg[k] = z.object(v as z.ZodRawShape);
      }
      configs.set(name, c);
    }
    return c;
  };
}

/** A tool result: a one-line summary with the JSON, for clients that read text, and the same as structured content. */
export function structuredResult(structured: Record<string, unknown>, summary: string): CallToolResult {
  return { content: [{ type: "text", text: `${summary}\n${JSON.stringify(structured, null, 2)}` }], structuredContent: structured };
}

/** `run(fn)`: fn's result, or `toolError(e)` when it throws, so a backend failure is a tool error and never a crash. */
export function toolRunner(toolError: (e: unknown) => CallToolResult): (fn: () => Promise<CallToolResult>) => Promise<CallToolResult> {
  return async (fn) => {
    try {
      return await fn();
    } catch (e) {
      return toolError(e);
    }
  };
}
