// Reads an OpenAPI document (file path, URL or object), checks it is OpenAPI 3.0 / 3.1 (Swagger 2.0 is
// upgraded by @scalar/openapi-parser), validates it (the specification's JSON Schemas), bundles external $refs.

import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { request } from "undici";
import { parse as parseYaml } from "yaml";
import { AdapterError } from "./errors.ts";
import type { Json, JsonObject } from "./schema-convert.ts";
import { validateDocument } from "./validate-document.ts";

export interface LoadedDocument {
  readonly doc: JsonObject;
  /** True for 3.0.x: schemas use the OpenAPI 3.0 dialect (nullable, boolean exclusive bounds). */
  readonly openapi30: boolean;
  /** The version the source declared ("2.0", "3.0.3", "3.1.0", …). */
  readonly sourceVersion: string;
  /** Where the document came from, to resolve relative `servers` URLs; undefined for objects. */
  readonly sourceUrl: URL | undefined;
}

export interface LoadOptions {
  /** Validate against the OpenAPI specification (default true). */
  readonly validate?: boolean;
  /** Largest document accepted, in bytes (default 64 MiB). */
  readonly maxBytes?: number;
}

function parseText(text: string, where: string): JsonObject {
  let v: unknown;
  try {
    v = text.trimStart().startsWith("{") ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 1000 });
  } catch (e) {
    throw new AdapterError("OPENAPI_LOAD_FAILED", `${where}: not JSON or YAML (${(e as Error).message.split("\n")[0]})`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new AdapterError("OPENAPI_NOT_OPENAPI", `${where}: not an object`);
  return v as JsonObject;
}

async function readSource(source: string, maxBytes: number): Promise<{ text: string; url: URL }> {
  if (/^https?:\/\//i.test(source)) {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(source, { method: "GET", headersTimeout: 30_000, bodyTimeout: 30_000, maxRedirections: 0 } as never);
    } catch (e) {
      throw new AdapterError("OPENAPI_LOAD_FAILED", `${source}: ${(e as Error).message}`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new AdapterError("OPENAPI_LOAD_FAILED", `${source}: HTTP ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new AdapterError("OPENAPI_LOAD_FAILED", `${source}: larger than ${maxBytes} bytes`);
      }
      chunks.push(c as Buffer);
    }
    return { text: Buffer.concat(chunks).toString("utf8"), url: new URL(source) };
  }
  const path = isAbsolute(source) ? source : resolve(source);
  try {
    const buf = await readFile(path);
    if (buf.length > maxBytes) throw new AdapterError("OPENAPI_LOAD_FAILED", `${source}: larger than ${maxBytes} bytes`);
    return { text: buf.toString("utf8"), url: pathToFileURL(path) };
  } catch (e) {
    if (e instanceof AdapterError) throw e;
    throw new AdapterError("OPENAPI_LOAD_FAILED", `${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** True when some $ref leaves the document (another file or URL): only then is the bundler needed. */
function hasExternalRefs(v: Json, depth = 0): boolean {
  if (depth > 512 || v === null || typeof v !== "object") return false;
  if (Array.isArray(v)) return v.some((x) => hasExternalRefs(x, depth + 1));
  for (const [k, x] of Object.entries(v)) {
    if (k === "$ref" && typeof x === "string" && !x.startsWith("#")) return true;
    if (typeof x === "object" && hasExternalRefs(x, depth + 1)) return true;
  }
  return false;
}

/** Loads and checks a document; every refusal is an AdapterError naming the code and the place. */
export async function loadDocument(source: string | JsonObject, o: LoadOptions = {}): Promise<LoadedDocument> {
  const maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
  let doc: JsonObject;
  let url: URL | undefined;
  const where = typeof source === "string" ? source : "document";
  if (typeof source === "string") {
    const r = await readSource(source, maxBytes);
    doc = parseText(r.text, source);
    url = r.url;
  } else {
    doc = structuredClone(source);
  }
  const swagger = doc.swagger;
  const openapi = doc.openapi;
  let sourceVersion: string;
  if (swagger === "2.0") sourceVersion = "2.0";
  else if (typeof openapi === "string" && /^3\.[01]\.\d+/.test(openapi)) sourceVersion = openapi;
  else {
    const said =
      typeof openapi === "string" ? `openapi: ${openapi}` : typeof swagger === "string" ? `swagger: ${swagger}` : "no openapi field";
    throw new AdapterError("OPENAPI_NOT_OPENAPI", `${where}: ${said} (OpenAPI 3.0, 3.1 or Swagger 2.0 expected)`);
  }
  if (typeof doc.paths !== "object" || doc.paths === null || Array.isArray(doc.paths)) {
    if (sourceVersion !== "2.0" && sourceVersion.startsWith("3.1") && doc.webhooks) doc.paths = {};
    else throw new AdapterError("OPENAPI_NOT_OPENAPI", `${where}: no paths object`);
  }
  if (hasExternalRefs(doc)) {
    try {
      // The bundler resolves relative references against the document's own location.
      const base = url?.protocol === "file:" ? decodeURIComponent(url.pathname) : (url?.href ?? "");
      doc = (await (base ? SwaggerParser.bundle(base) : SwaggerParser.bundle(doc as never))) as unknown as JsonObject;
    } catch (e) {
      throw new AdapterError("OPENAPI_BROKEN_REF", `${where}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  if (o.validate !== false) {
    const errors = validateDocument(doc, sourceVersion);
    if (errors.length) throw new AdapterError("OPENAPI_INVALID", `${where}: ${errors.join("; ")}`);
  }
  let openapi30 = sourceVersion.startsWith("3.0");
  if (sourceVersion === "2.0") {
    // Loaded only for Swagger 2.0 documents.
    const { upgrade } = await import("@scalar/openapi-parser");
    doc = upgrade(doc as never).specification as unknown as JsonObject;
    openapi30 = false;
  }
  return { doc, openapi30, sourceVersion, sourceUrl: url };
}
