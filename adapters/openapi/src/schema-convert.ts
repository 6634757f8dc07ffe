// OpenAPI schema objects → self-contained JSON Schema (2020-12 vocabulary) for MCP tools: local $refs
// inlined, recursion cut at a bound, readOnly left out of inputs and writeOnly out of outputs, 3.0 idioms converted.

import { AdapterError } from "./errors.ts";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };
/** Which side of the exchange a schema describes: request bodies and parameters, or answers. */
export type Direction = "input" | "output";

export interface ConvertOptions {
  /** 3.0 documents use the OpenAPI dialect (nullable, boolean exclusiveMinimum, example). */
  readonly openapi30: boolean;
  /** Nested $ref expansions on one path before the rest is left open (`{}` with a note). */
  readonly maxRefDepth: number;
  /**
   * Output schemas without `required` and closed objects: real APIs leave out fields their description
   * marks required (GitHub's own examples do), and an MCP client rejects a result its outputSchema refuses.
   */
  readonly lenientOutput: boolean;
}

/** Keywords that carry no validation meaning for a tool schema and only add weight. */
const DROPPED = new Set(["xml", "externalDocs", "discriminator", "example", "$schema", "$id", "$comment"]);

interface Cached {
  readonly schema: JsonObject;
  /** True when the expansion was cut because of the ref stack, so it cannot be reused elsewhere. */
  readonly cut: boolean;
}

/** Resolves `#/…` JSON pointers in one document; decodes `~0`, `~1` and percent escapes once. */
export function resolvePointer(root: JsonObject, ref: string): Json | undefined {
  if (!ref.startsWith("#")) return undefined;
  const body = ref.slice(1);
  if (body === "") return root;
  if (!body.startsWith("/")) return undefined;
  let cur: Json | undefined = root;
  for (const raw of body.slice(1).split("/")) {
    let key: string;
    try {
      key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    } catch {
      return undefined;
    }
    if (cur === null || typeof cur !== "object") return undefined;
    cur = Array.isArray(cur) ? cur[Number(key)] : Object.hasOwn(cur, key) ? cur[key] : undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Follows a chain of $ref-only objects (parameters, responses, request bodies) to the object itself. */
export function deref(root: JsonObject, value: Json | undefined, where: string): JsonObject | undefined {
  let cur = value;
  for (let hops = 0; hops < 32; hops++) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    const ref = cur.$ref;
    if (typeof ref !== "string") return cur;
    const next = resolvePointer(root, ref);
    if (next === undefined) throw new AdapterError("OPENAPI_BROKEN_REF", `${where}: $ref "${ref}" points at nothing`);
    cur = next;
  }
  throw new AdapterError("OPENAPI_BROKEN_REF", `${where}: $ref chain longer than 32 hops`);
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Converts schemas of one document; expansions without a recursion cut are shared between tools. */
export class SchemaConverter {
  readonly #root: JsonObject;
  readonly #o: ConvertOptions;
  readonly #cache = new Map<string, Cached>();

  constructor(root: JsonObject, o: ConvertOptions) {
    this.#root = root;
    this.#o = o;
  }

  /** The JSON Schema for `schema` as seen from `dir`; throws OPENAPI_BROKEN_REF for a dangling $ref. */
  convert(schema: Json | undefined, dir: Direction, where: string): JsonObject {
    if (schema === undefined) return {};
    return this.#walk(schema, dir, where, []).schema;
  }

  #walk(schema: Json, dir: Direction, where: string, stack: string[]): Cached {
    if (schema === true || schema === null) return { schema: {}, cut: false };
    if (schema === false) return { schema: { not: {} }, cut: false };
    if (!isObject(schema)) return { schema: {}, cut: false };
    const ref = schema.$ref;
    if (typeof ref === "string") return this.#ref(schema, ref, dir, where, stack);
    return this.#object(schema, dir, where, stack);
  }

  #ref(schema: JsonObject, ref: string, dir: Direction, where: string, stack: string[]): Cached {
    const name = ref.slice(ref.lastIndexOf("/") + 1);
    if (stack.includes(ref)) {
      return { schema: { description: `(recursive reference to ${name}, not expanded further)` }, cut: true };
    }
    if (stack.length >= this.#o.maxRefDepth) {
      return { schema: { description: `(${name}: nested deeper than ${this.#o.maxRefDepth} references, not expanded)` }, cut: true };
    }
    const key = `${dir}|${ref}`;
    let hit = this.#cache.get(key);
    if (!hit) {
      const target = resolvePointer(this.#root, ref);
      if (target === undefined) throw new AdapterError("OPENAPI_BROKEN_REF", `${where}: $ref "${ref}" points at nothing`);
      stack.push(ref);
      try {
        hit = this.#walk(target, dir, where, stack);
      } finally {
        stack.pop();
      }
      if (!hit.cut) this.#cache.set(key, hit);
    }
    // 3.1 allows keywords beside $ref (description, nullable in 3.0 is ignored there): merge them as allOf.
    const siblings = Object.keys(schema).filter((k) => k !== "$ref" && !k.startsWith("x-") && !DROPPED.has(k));
    if (siblings.length === 0) return hit;
    const rest: JsonObject = {};
    for (const k of siblings) rest[k] = schema[k] as Json;
    const extra = this.#object(rest, dir, where, stack);
    return { schema: { allOf: [hit.schema], ...extra.schema }, cut: hit.cut || extra.cut };
  }

  #object(schema: JsonObject, dir: Direction, where: string, stack: string[]): Cached {
    const out: JsonObject = {};
    let cut = false;
    const sub = (v: Json): JsonObject => {
      const r = this.#walk(v, dir, where, stack);
      if (r.cut) cut = true;
      return r.schema;
    };
    for (const [k, v] of Object.entries(schema)) {
      if (k.startsWith("x-") || DROPPED.has(k)) continue;
      switch (k) {
        case "properties": {
          if (!isObject(v)) break;
          const props: JsonObject = {};
          for (const [p, ps] of Object.entries(v)) {
            if (hidden(this.#root, ps, dir)) continue;
            props[p] = sub(ps);
          }
          out.properties = props;
          break;
        }
        case "patternProperties":
        case "dependentSchemas":
        case "$defs":
        case "definitions": {
          if (!isObject(v)) break;
          const m: JsonObject = {};
          for (const [p, ps] of Object.entries(v)) m[p] = sub(ps);
          out[k] = m;
          break;
        }
        case "items":
          out.items = Array.isArray(v) ? (v.map(sub) as Json[]) : sub(v);
          break;
        case "prefixItems":
        case "allOf":
        case "anyOf":
        case "oneOf":
          if (Array.isArray(v)) out[k] = v.map(sub);
          break;
        case "additionalProperties":
        case "unevaluatedProperties":
        case "unevaluatedItems":
        case "contains":
        case "propertyNames":
        case "not":
        case "if":
        case "then":
        case "else":
          out[k] = typeof v === "boolean" ? v : sub(v);
          break;
        case "examples":
          // 3.0 has no `examples` keyword in schemas; in 3.1 it is JSON Schema's array.
          if (Array.isArray(v)) out.examples = v;
          break;
        case "nullable":
          // 3.0 only (handled by convert30); 3.1 expresses it with type arrays.
          break;
        case "exclusiveMinimum":
        case "exclusiveMaximum":
          // 3.0 booleans are folded into the bound by convert30; 3.1 numbers are JSON Schema's own.
          if (typeof v === "number") out[k] = v;
          break;
        case "readOnly":
        case "writeOnly":
          // Kept as annotations (clients may show them); the pruning happened in the parent's properties.
          if (v === true) out[k] = true;
          break;
        default:
          out[k] = v;
      }
    }
    if (this.#o.openapi30) convert30(schema, out);
    if (dir === "output" && this.#o.lenientOutput) {
      delete out.required;
      if (out.additionalProperties === false) delete out.additionalProperties;
    }
    if (Array.isArray(out.required) && isObject(out.properties) && isObject(schema.properties)) {
      const props = out.properties;
      const declared = schema.properties;
      // A required property that is hidden from this direction is not required of it.
      out.required = out.required.filter((r) => typeof r !== "string" || Object.hasOwn(props, r) || !Object.hasOwn(declared, r));
      if (out.required.length === 0) delete out.required;
    }
    return { schema: out, cut };
  }
}

/** readOnly properties are not inputs; writeOnly ones are not outputs (OpenAPI 3.x Schema Object). */
function hidden(root: JsonObject, ps: Json, dir: Direction): boolean {
  let s: Json | undefined = ps;
  if (isObject(s) && typeof s.$ref === "string" && Object.keys(s).length === 1) s = resolvePointer(root, s.$ref);
  if (!isObject(s)) return false;
  return dir === "input" ? s.readOnly === true : s.writeOnly === true;
}

/** OpenAPI 3.0's dialect → JSON Schema: nullable, boolean exclusive bounds, `example`. */
function convert30(src: JsonObject, out: JsonObject): void {
  if (src.nullable === true) {
    const t = out.type;
    if (typeof t === "string") out.type = [t, "null"];
    else if (Array.isArray(t) && !t.includes("null")) out.type = [...t, "null"];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  if (src.exclusiveMinimum === true && typeof out.minimum === "number") {
    out.exclusiveMinimum = out.minimum;
    delete out.minimum;
  }
  if (src.exclusiveMaximum === true && typeof out.maximum === "number") {
    out.exclusiveMaximum = out.maximum;
    delete out.maximum;
  }
  if (src.example !== undefined && out.examples === undefined) out.examples = [src.example];
}
