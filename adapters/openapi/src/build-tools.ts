// One MCP tool per selected operation of a loaded document: name, title, description, inputSchema
// (parameters + body), outputSchema, annotations, and the plan the request builder follows.

import type { ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { AdapterError } from "./errors.ts";
import type { LoadedDocument } from "./load-document.ts";
import { toolName } from "./names.ts";
import type { AdapterOptions } from "./options.ts";
import { deref, type Json, type JsonObject, SchemaConverter } from "./schema-convert.ts";
import { planSecurity, type SecurityPlan, type SecuritySchemeReport } from "./security.ts";

export const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** The request header names OpenAPI says parameter definitions SHALL ignore (3.x Parameter Object). */
const IGNORED_HEADERS = new Set(["accept", "content-type", "authorization"]);

export type ParamLocation = "path" | "query" | "header" | "cookie";

export interface ParamPlan {
  /** The argument's name in the tool's inputSchema. */
  readonly arg: string;
  readonly name: string;
  readonly in: ParamLocation;
  readonly style: string;
  readonly explode: boolean;
  readonly allowReserved: boolean;
  /** Set when the parameter uses `content` instead of `schema`: the value is serialised as that media type. */
  readonly contentType: string | undefined;
  readonly required: boolean;
}

export interface BodyPlan {
  readonly mediaType: string;
  readonly required: boolean;
}

export interface RequestPlan {
  readonly method: string;
  readonly path: string;
  readonly params: readonly ParamPlan[];
  readonly body: BodyPlan | undefined;
  readonly security: SecurityPlan;
  /** outputSchema wraps a non-object answer as `{ result }`. */
  readonly wrapOutput: boolean;
  /** Media types the 2xx answers declare (the Accept header sent). */
  readonly accept: string;
}

export interface ToolDefinition {
  readonly name: string;
  readonly title: string | undefined;
  readonly description: string | undefined;
  readonly inputSchema: JsonObject & { type: "object" };
  readonly outputSchema: (JsonObject & { type: "object" }) | undefined;
  readonly annotations: ToolAnnotations;
  readonly operation: { readonly method: string; readonly path: string; readonly operationId: string | undefined; readonly tags: string[] };
  readonly plan: RequestPlan;
}

export interface SkippedOperation {
  readonly method: string;
  readonly path: string;
  readonly operationId: string | undefined;
  readonly reason: string;
}

export interface BuiltTools {
  readonly tools: ToolDefinition[];
  readonly skipped: SkippedOperation[];
  readonly security: SecuritySchemeReport[];
}

type Selector = NonNullable<AdapterOptions["include"]>;

function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

interface CompiledSelector {
  readonly tags: Set<string> | undefined;
  readonly ids: Set<string> | undefined;
  readonly paths: RegExp[] | undefined;
  readonly methods: Set<string> | undefined;
}

function compileSelector(s: Selector | undefined): CompiledSelector | undefined {
  if (!s) return undefined;
  return {
    tags: s.tags ? new Set(s.tags) : undefined,
    ids: s.operationIds ? new Set(s.operationIds) : undefined,
    paths: s.paths?.map(globToRegExp),
    methods: s.methods ? new Set(s.methods) : undefined,
  };
}

/** Include: every given criterion must match. Exclude: any given criterion that matches excludes. */
function matches(s: CompiledSelector, method: string, path: string, id: string | undefined, tags: string[], all: boolean): boolean {
  const checks: boolean[] = [];
  if (s.tags) checks.push(tags.some((t) => s.tags!.has(t)));
  if (s.ids) checks.push(id !== undefined && s.ids.has(id));
  if (s.paths) checks.push(s.paths.some((r) => r.test(path)));
  if (s.methods) checks.push(s.methods.has(method));
  if (checks.length === 0) return all;
  return all ? checks.every(Boolean) : checks.some(Boolean);
}

function str(v: Json | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function trimText(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t.length <= max) return t || undefined;
  return `${t.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

function isJsonMedia(m: string): boolean {
  const base = m.split(";")[0]!.trim().toLowerCase();
  return base === "application/json" || base.endsWith("+json") || base === "*/*";
}

/** The request body media type used: JSON first, then forms, text, binary, else the first listed. */
function pickMedia(content: JsonObject): string | undefined {
  const types = Object.keys(content);
  return (
    types.find((t) => isJsonMedia(t) && t !== "*/*") ??
    types.find((t) => t.startsWith("application/x-www-form-urlencoded")) ??
    types.find((t) => t.startsWith("multipart/form-data")) ??
    types.find((t) => t.startsWith("text/")) ??
    types[0]
  );
}

function defaultAnnotations(method: string): ToolAnnotations {
  switch (method) {
    case "GET":
    case "HEAD":
    case "OPTIONS":
      return { readOnlyHint: true, openWorldHint: true };
    case "PUT":
      return { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true };
    case "DELETE":
      return { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true };
    default:
      return { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };
  }
}

const DEFAULT_STYLE: Record<ParamLocation, string> = { path: "simple", query: "form", header: "simple", cookie: "form" };

/** Builds every tool of the document; throws an AdapterError for a broken $ref or a name collision. */
export function buildTools(loaded: LoadedDocument, o: AdapterOptions): BuiltTools {
  const doc = loaded.doc;
  const conv = new SchemaConverter(doc, {
    openapi30: loaded.openapi30,
    maxRefDepth: o.maxRefDepth,
    lenientOutput: o.outputSchemas === "lenient",
  });
  const include = compileSelector(o.include);
  const exclude = compileSelector(o.exclude);
  const security = planSecurity(doc, o);
  const tools: ToolDefinition[] = [];
  const skipped: SkippedOperation[] = [];
  const byName = new Map<string, string>();
  const paths = (doc.paths ?? {}) as JsonObject;
  for (const [path, rawItem] of Object.entries(paths)) {
    const item = deref(doc, rawItem, `paths.${path}`);
    if (!item) continue;
    for (const m of METHODS) {
      const rawOp = item[m];
      if (rawOp === undefined) continue;
      const where = `${m.toUpperCase()} ${path}`;
      const op = deref(doc, rawOp, where);
      if (!op) continue;
      const method = m.toUpperCase();
      const operationId = str(op.operationId);
      const tags = Array.isArray(op.tags) ? op.tags.filter((t): t is string => typeof t === "string") : [];
      if (include && !matches(include, method, path, operationId, tags, true)) continue;
      if (exclude && matches(exclude, method, path, operationId, tags, false)) continue;
      if (o.readOnly && !SAFE.has(method)) continue;
      const key = operationId ?? where;
      const override = o.toolNames[key] ?? o.toolNames[where] ?? str(op["x-mcp-name"]);
      const name = override ?? toolName(operationId, method, path, o.names);
      if (!name) {
        skipped.push({ method, path, operationId, reason: `no name source (names: ${o.names}, no operationId)` });
        continue;
      }
      const prev = byName.get(name);
      if (prev !== undefined) {
        throw new AdapterError(
          "OPENAPI_NAME_COLLISION",
          `"${name}" is the tool name of both ${prev} and ${where}${operationId ? ` (${operationId})` : ""}; set toolNames for one of them`,
        );
      }
      byName.set(name, operationId ? `${where} (${operationId})` : where);
      const sec = security.forOperation(op);
      const { inputSchema, params, body } = inputOf(doc, conv, item, op, where, sec.apiKeyParams);
      const { outputSchema, wrap, accept } = outputOf(doc, conv, op, where, o.outputSchemas !== "none");
      const ann: ToolAnnotations = {
        ...defaultAnnotations(method),
        ...(op["x-mcp-annotations"] as ToolAnnotations | undefined),
        ...o.annotations[where],
        ...(operationId ? o.annotations[operationId] : undefined),
      };
      const summary = trimText(str(op.summary), 256);
      let description = str(op.description) ?? str(op.summary);
      if (op.deprecated === true) description = `(deprecated) ${description ?? ""}`;
      tools.push({
        name,
        title: summary,
        description: trimText(description, o.maxDescription),
        inputSchema,
        outputSchema,
        annotations: ann,
        operation: { method, path, operationId, tags },
        plan: { method, path, params, body, security: sec, wrapOutput: wrap, accept },
      });
    }
  }
  if (tools.length === 0) {
    throw new AdapterError("OPENAPI_NO_TOOLS", `no operation is left by the selection (${skipped.length} skipped)`);
  }
  return { tools, skipped, security: security.report() };
}

function inputOf(
  doc: JsonObject,
  conv: SchemaConverter,
  item: JsonObject,
  op: JsonObject,
  where: string,
  credentialParams: ReadonlySet<string>,
): { inputSchema: JsonObject & { type: "object" }; params: ParamPlan[]; body: BodyPlan | undefined } {
  // Operation parameters override path-item ones with the same name and location.
  const merged = new Map<string, JsonObject>();
  for (const list of [item.parameters, op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      const p = deref(doc, raw, `${where} parameter`);
      if (!p || typeof p.name !== "string" || typeof p.in !== "string") continue;
      merged.set(`${p.in}:${p.name}`, p);
    }
  }
  const plans: Omit<ParamPlan, "arg">[] = [];
  const schemas: JsonObject[] = [];
  for (const p of merged.values()) {
    const loc = p.in as ParamLocation;
    const name = p.name as string;
    if (!(loc in DEFAULT_STYLE)) continue;
    if (loc === "header" && IGNORED_HEADERS.has(name.toLowerCase())) continue;
    // Credentials are never arguments: a parameter that is an apiKey scheme's slot is filled by the adapter.
    if (credentialParams.has(`${loc}:${name.toLowerCase()}`)) continue;
    let schema: JsonObject;
    let contentType: string | undefined;
    if (p.content && typeof p.content === "object" && !Array.isArray(p.content)) {
      contentType = Object.keys(p.content)[0];
      const media = deref(doc, (p.content as JsonObject)[contentType ?? ""], `${where} parameter ${name}`);
      schema = conv.convert(media?.schema, "input", `${where} parameter ${name}`);
    } else schema = conv.convert(p.schema, "input", `${where} parameter ${name}`);
    const desc = str(p.description);
    if (desc && schema.description === undefined) schema = { ...schema, description: desc.trim() };
    if (p.deprecated === true) schema = { ...schema, deprecated: true };
    const style = str(p.style) ?? DEFAULT_STYLE[loc];
    plans.push({
      name,
      in: loc,
      style,
      explode: typeof p.explode === "boolean" ? p.explode : style === "form",
      allowReserved: p.allowReserved === true,
      contentType,
      required: loc === "path" || p.required === true,
    });
    schemas.push(schema);
  }
  const counts = new Map<string, number>();
  for (const p of plans) counts.set(p.name, (counts.get(p.name) ?? 0) + 1);
  const properties: JsonObject = {};
  const required: string[] = [];
  const params: ParamPlan[] = plans.map((p, i) => {
    // Same name in two locations (or named "body"): the argument carries the location too.
    const arg = (counts.get(p.name) ?? 0) > 1 || p.name === "body" ? `${p.in}_${p.name}` : p.name;
    properties[arg] = schemas[i]!;
    if (p.required) required.push(arg);
    return { ...p, arg };
  });
  let body: BodyPlan | undefined;
  const rb = deref(doc, op.requestBody, `${where} requestBody`);
  if (rb?.content && typeof rb.content === "object" && !Array.isArray(rb.content)) {
    const content = rb.content as JsonObject;
    const mediaType = pickMedia(content);
    if (mediaType) {
      const media = deref(doc, content[mediaType], `${where} requestBody`);
      let schema = conv.convert(media?.schema, "input", `${where} requestBody`);
      if (!isJsonMedia(mediaType) && !mediaType.includes("form") && Object.keys(schema).length === 0) schema = { type: "string" };
      const desc = str(rb.description);
      if (desc && schema.description === undefined) schema = { ...schema, description: desc.trim() };
      properties.body = schema;
      body = { mediaType, required: rb.required === true };
      if (body.required) required.push("body");
    }
  }
  const inputSchema: JsonObject & { type: "object" } = { type: "object", properties };
  if (required.length) inputSchema.required = required;
  inputSchema.additionalProperties = false;
  return { inputSchema, params, body };
}

function outputOf(
  doc: JsonObject,
  conv: SchemaConverter,
  op: JsonObject,
  where: string,
  declare: boolean,
): { outputSchema: (JsonObject & { type: "object" }) | undefined; wrap: boolean; accept: string } {
  const responses = deref(doc, op.responses, `${where} responses`) ?? {};
  const schemas: JsonObject[] = [];
  const media = new Set<string>();
  let allJson = true;
  let any2xx = false;
  for (const [status, raw] of Object.entries(responses)) {
    if (!/^2(\d\d|XX)$/i.test(status)) continue;
    any2xx = true;
    const r = deref(doc, raw, `${where} response ${status}`);
    const content = r?.content;
    if (!content || typeof content !== "object" || Array.isArray(content) || Object.keys(content).length === 0) {
      allJson = false;
      continue;
    }
    for (const t of Object.keys(content)) media.add(t);
    const jsonType = Object.keys(content).find(isJsonMedia);
    const m = jsonType ? deref(doc, (content as JsonObject)[jsonType], `${where} response ${status}`) : undefined;
    if (!m || m.schema === undefined) {
      allJson = false;
      continue;
    }
    schemas.push(conv.convert(m.schema, "output", `${where} response ${status}`));
  }
  const accept = media.size ? [...media].join(", ") : "application/json";
  // Structured output only when every success answer is JSON with a schema (a 204 has nothing to structure).
  if (!declare || !any2xx || !allJson || schemas.length === 0) return { outputSchema: undefined, wrap: false, accept };
  const unique = [...new Map(schemas.map((s) => [JSON.stringify(s), s])).values()];
  const one: JsonObject = unique.length === 1 ? unique[0]! : { anyOf: unique };
  if (objectRooted(one)) return { outputSchema: { ...one, type: "object" }, wrap: false, accept };
  return { outputSchema: { type: "object", properties: { result: one }, required: ["result"] }, wrap: true, accept };
}

/** True when every value the schema accepts is a JSON object (so it can be structuredContent as is). */
function objectRooted(s: JsonObject, depth = 0): boolean {
  if (depth > 16) return false;
  const t = s.type;
  if (t !== undefined) return t === "object";
  const sub = (v: Json | undefined) => Array.isArray(v) && v.length > 0 && v.every((x) => isObj(x) && objectRooted(x, depth + 1));
  const some = (v: Json | undefined) => Array.isArray(v) && v.some((x) => isObj(x) && objectRooted(x, depth + 1));
  if (Array.isArray(s.allOf) && some(s.allOf)) return true;
  if (s.anyOf !== undefined || s.oneOf !== undefined) return sub(s.anyOf ?? s.oneOf);
  return s.properties !== undefined;
}

function isObj(v: Json): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
