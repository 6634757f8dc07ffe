// Compiled argument validators, one per distinct tool definition (keyed by its hash), built with ajv
// once and kept in a bounded LRU; ajv's own cache entry is removed when ours is evicted.

import { createRequire } from "node:module";
import type { ErrorObject, ValidateFunction } from "ajv";
import { LRUCache } from "lru-cache";

// ajv and ajv-formats are CommonJS; createRequire gives their classes without interop guesswork. They are
// loaded when the first schema compiles, so commands and gateways that never validate one skip them.
const require = createRequire(import.meta.url);
type AjvLike = {
  compile(schema: object): ValidateFunction;
  removeSchema(schema: object): unknown;
};
type AjvClass = new (opts: Record<string, unknown>) => AjvLike;

export type Compiled = { readonly ok: true; readonly validate: ValidateFunction } | { readonly ok: false; readonly reason: string };

export interface ValidatorCacheOptions {
  max: number;
  maxSchemaChars: number;
}

// Schemas come from backends: strict mode off (unknown keywords and formats are not errors), one error
// is enough (allErrors would let a crafted input make ajv do more work), and a schema's `$id` must not
// register it in the shared instance (two backends may reuse one `$id`).
const AJV_OPTIONS = { strict: false, allErrors: false, addUsedSchema: false, logger: false, validateFormats: true };

function draftOf(schema: Record<string, unknown>): "2020" | "draft7" {
  const s = schema.$schema;
  // MCP 2025-11-25: an inputSchema without $schema is JSON Schema 2020-12. Older drafts (the 1.x SDK's
  // zod-to-json-schema writes draft-07) use ajv's draft-07 class.
  return typeof s === "string" && /draft-0[4-7]/.test(s) ? "draft7" : "2020";
}

export class ValidatorCache {
  readonly #o: ValidatorCacheOptions;
  #ajv: Record<"2020" | "draft7", AjvLike> | undefined;
  readonly #compiled: LRUCache<string, { compiled: Compiled; schema: object | undefined; ajv: AjvLike | undefined }>;

  constructor(o: ValidatorCacheOptions) {
    this.#o = o;
    this.#compiled = new LRUCache({
      max: o.max,
      dispose: (v) => {
        if (v.schema && v.ajv) v.ajv.removeSchema(v.schema);
      },
    });
  }

  // The two ajv instances (with their formats, several MB of code and compiled keywords) are built by the first
  // schema to compile: a gateway whose backends list no tools never loads ajv.
  #ajvOf(draft: "2020" | "draft7"): AjvLike {
    if (!this.#ajv) {
      const Ajv2020 = require("ajv/dist/2020").default as AjvClass;
      const AjvDraft7 = require("ajv").default as AjvClass;
      const addFormats = require("ajv-formats").default as (ajv: AjvLike) => void;
      const a = new Ajv2020(AJV_OPTIONS);
      const b = new AjvDraft7(AJV_OPTIONS);
      addFormats(a);
      addFormats(b);
      this.#ajv = { "2020": a, draft7: b };
    }
    return this.#ajv[draft];
  }

  get size(): number {
    return this.#compiled.size;
  }

  /** The validator of the definition with this hash, compiling `inputSchema` on first use. */
  get(hash: string, inputSchema: unknown): Compiled {
    const hit = this.#compiled.get(hash);
    if (hit) return hit.compiled;
    const entry = this.#compile(inputSchema);
    this.#compiled.set(hash, entry);
    return entry.compiled;
  }

  #compile(inputSchema: unknown): { compiled: Compiled; schema: object | undefined; ajv: AjvLike | undefined } {
    const fail = (reason: string) => ({ compiled: { ok: false as const, reason }, schema: undefined, ajv: undefined });
    if (typeof inputSchema !== "object" || inputSchema === null || Array.isArray(inputSchema)) return fail("inputSchema is not an object");
    let text: string;
    try {
      text = JSON.stringify(inputSchema);
    } catch {
      return fail("inputSchema cannot be serialised");
    }
    if (text.length > this.#o.maxSchemaChars) return fail(`inputSchema is larger than ${this.#o.maxSchemaChars} characters`);
    // Our own copy (ajv keeps a reference), without $schema: the draft is chosen here, not by lookup.
    const { $schema: _drop, ...schema } = JSON.parse(text) as Record<string, unknown>;
    const ajv = this.#ajvOf(draftOf(inputSchema as Record<string, unknown>));
    try {
      return { compiled: { ok: true, validate: ajv.compile(schema) }, schema, ajv };
    } catch (e) {
      return fail(`inputSchema does not compile: ${(e as Error).message.slice(0, 200)}`);
    }
  }
}

/** JSON Pointer (RFC 6901) into the arguments of the value that failed, and ajv's message for it. */
export function describeError(e: ErrorObject): { path: string; keyword: string; message: string } {
  let path = e.instancePath;
  const p = e.params as Record<string, unknown>;
  // For these keywords ajv points at the parent; the failing member is in params.
  const member = e.keyword === "required" ? p.missingProperty : e.keyword === "additionalProperties" ? p.additionalProperty : undefined;
  if (typeof member === "string") path += `/${member.replace(/~/g, "~0").replace(/\//g, "~1")}`;
  return { path, keyword: e.keyword, message: e.message ?? "is invalid" };
}
