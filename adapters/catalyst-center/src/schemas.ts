// The official Catalyst Center 3.1.6.0 request/response JSON Schemas (draft-04, schemas/), compiled with
// Ajv, and routing from an HTTP method + path to the API method whose schemas apply.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import AjvDraft04 from "ajv-draft-04";

export interface ApiMethod {
  readonly group: string;
  readonly method: string;
  readonly http: string;
  readonly path: string;
  readonly requestSchema?: object;
  readonly responseSchema?: object;
}

export const SCHEMA_DIR = join(import.meta.dirname, "..", "schemas");

type Validator = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };

interface Route {
  readonly api: ApiMethod;
  readonly pattern: RegExp;
  readonly literal: boolean;
  request?: Validator;
  response?: Validator;
}

let routes: Route[] | undefined;

function load(): Route[] {
  if (routes) return routes;
  const ajv = new AjvDraft04.default({ allErrors: true, strict: false });
  const out: Route[] = [];
  for (const f of readdirSync(SCHEMA_DIR)) {
    if (!f.endsWith(".json") || f === "index.json") continue;
    const api = JSON.parse(readFileSync(join(SCHEMA_DIR, f), "utf8")) as ApiMethod;
    const pattern = new RegExp(`^${api.path.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    const r: Route = { api, pattern, literal: !api.path.includes("{") };
    if (api.requestSchema) r.request = ajv.compile(api.requestSchema) as Validator;
    if (api.responseSchema) r.response = ajv.compile(api.responseSchema) as Validator;
    out.push(r);
  }
  // A literal path wins over a templated one (…/template/preview before …/template/{templateId}).
  out.sort((a, b) => Number(b.literal) - Number(a.literal));
  routes = out;
  return out;
}

/** The API method for `http` + `path` (query string ignored), or undefined when the schemas do not cover it. */
export function routeOf(http: string, path: string): ApiMethod | undefined {
  return find(http, path)?.api;
}

function find(http: string, path: string): Route | undefined {
  const p = path.split("?")[0]!;
  return load().find((r) => r.api.http === http.toUpperCase() && r.pattern.test(p));
}

export interface SchemaCheck {
  readonly method: string | undefined;
  readonly ok: boolean;
  readonly errors: string[];
}

function check(v: Validator | undefined, data: unknown, method: string | undefined): SchemaCheck {
  if (!v) return { method, ok: true, errors: [] };
  const ok = v(data);
  return { method, ok, errors: ok ? [] : (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? "invalid"}`) };
}

/** Validate a request body against the method's request schema (methods without one accept anything). */
export function validateRequest(http: string, path: string, body: unknown): SchemaCheck {
  const r = find(http, path);
  if (!r) return { method: undefined, ok: false, errors: [`no schema covers ${http} ${path}`] };
  return check(r.request, body, r.api.method);
}

export function validateResponse(http: string, path: string, body: unknown): SchemaCheck {
  const r = find(http, path);
  if (!r) return { method: undefined, ok: false, errors: [`no schema covers ${http} ${path}`] };
  return check(r.response, body, r.api.method);
}

/** Every API method whose schemas ship with the package. */
export function apiMethods(): ApiMethod[] {
  return load().map((r) => r.api);
}
