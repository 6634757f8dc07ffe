// The document's security schemes satisfied from what the gateway injects: a header on the MCP request
// (Streamable HTTP) or an environment variable (stdio). Credentials are never tool arguments.

import type { AdapterOptions, CredentialSource } from "./options.ts";
import { deref, type Json, type JsonObject } from "./schema-convert.ts";

export interface ResolvedScheme {
  readonly scheme: string;
  /** Where the API expects the value. */
  readonly in: "header" | "query" | "cookie";
  readonly paramName: string;
  /** Where the adapter takes it from; undefined when nothing is configured or defaulted. */
  readonly source: CredentialSource | undefined;
}

export interface SecurityPlan {
  /** Alternatives (OpenAPI security requirement objects): one whose schemes are all present is used. */
  readonly alternatives: readonly (readonly ResolvedScheme[])[];
  /** `{}` among the requirements, or none at all: calling without credentials is allowed. */
  readonly optional: boolean;
  /** `in:name` (lower-case) of apiKey slots, so matching parameters are not offered as arguments. */
  readonly apiKeyParams: ReadonlySet<string>;
}

export interface SecuritySchemeReport {
  readonly scheme: string;
  readonly type: string;
  /** e.g. "header authorization", "env PETSTORE_KEY"; undefined when nothing satisfies it. */
  readonly satisfiedBy: string | undefined;
  /** How many selected operations name it. */
  operations: number;
}

export interface Credentials {
  readonly headers: Record<string, string>;
  readonly query: [string, string][];
  readonly cookies: [string, string][];
}

function defaultSource(s: JsonObject): CredentialSource | undefined {
  const type = s.type;
  if (type === "http" || type === "oauth2" || type === "openIdConnect") return { fromHeader: "authorization" };
  // An API key in a header arrives in the same header from the gateway; query and cookie keys need configuring.
  if (type === "apiKey" && s.in === "header" && typeof s.name === "string") return { fromHeader: s.name.toLowerCase() };
  return undefined;
}

export function planSecurity(doc: JsonObject, o: AdapterOptions) {
  const components = (doc.components ?? {}) as JsonObject;
  const defs = (components.securitySchemes ?? {}) as JsonObject;
  const schemes = new Map<string, ResolvedScheme | undefined>();
  const reports = new Map<string, SecuritySchemeReport>();
  for (const [name, raw] of Object.entries(defs)) {
    const s = deref(doc, raw, `components.securitySchemes.${name}`);
    if (!s) continue;
    const configured = o.security[name];
    const source = configured ?? defaultSource(s);
    let resolved: ResolvedScheme | undefined;
    if (s.type === "apiKey" && typeof s.name === "string" && (s.in === "header" || s.in === "query" || s.in === "cookie")) {
      resolved = { scheme: name, in: s.in, paramName: s.name, source };
    } else if (s.type === "http" || s.type === "oauth2" || s.type === "openIdConnect") {
      resolved = { scheme: name, in: "header", paramName: "Authorization", source };
    }
    // mutualTLS and unknown types cannot be satisfied by an injected value.
    schemes.set(name, resolved);
    const by = resolved?.source
      ? [resolved.source.fromHeader && `header ${resolved.source.fromHeader}`, resolved.source.fromEnv && `env ${resolved.source.fromEnv}`]
          .filter(Boolean)
          .join(" or ")
      : undefined;
    reports.set(name, { scheme: name, type: String(s.type), satisfiedBy: by || undefined, operations: 0 });
  }
  const global = doc.security;
  return {
    forOperation(op: JsonObject): SecurityPlan {
      const reqs = (Array.isArray(op.security) ? op.security : Array.isArray(global) ? global : []) as Json[];
      const alternatives: ResolvedScheme[][] = [];
      let optional = reqs.length === 0;
      const apiKeyParams = new Set<string>();
      for (const req of reqs) {
        if (req === null || typeof req !== "object" || Array.isArray(req)) continue;
        const names = Object.keys(req);
        if (names.length === 0) {
          optional = true;
          continue;
        }
        const alt: ResolvedScheme[] = [];
        let usable = true;
        for (const n of names) {
          const r = schemes.get(n);
          const rep = reports.get(n);
          if (rep) rep.operations++;
          if (!r) {
            usable = false;
            continue;
          }
          if (r.in !== "header" || r.paramName !== "Authorization") apiKeyParams.add(`${r.in}:${r.paramName.toLowerCase()}`);
          alt.push(r);
        }
        if (usable) alternatives.push(alt);
      }
      return { alternatives, optional, apiKeyParams };
    },
    report(): SecuritySchemeReport[] {
      return [...reports.values()];
    },
  };
}

/** The credentials of the first satisfied alternative; undefined when none is (and calling without is not allowed). */
export function credentialsFor(
  plan: SecurityPlan,
  incoming: Readonly<Record<string, string | string[] | undefined>> | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Credentials | undefined {
  const empty: Credentials = { headers: {}, query: [], cookies: [] };
  for (const alt of plan.alternatives) {
    const c: Credentials = { headers: {}, query: [], cookies: [] };
    let ok = true;
    for (const s of alt) {
      const src = s.source;
      let v: string | undefined;
      if (src?.fromHeader && incoming) {
        const h = incoming[src.fromHeader];
        v = Array.isArray(h) ? h[0] : h;
      }
      if (!v && src?.fromEnv) v = env[src.fromEnv];
      if (!v) {
        ok = false;
        break;
      }
      if (src?.prefix) v = src.prefix + v;
      if (s.in === "header") c.headers[s.paramName.toLowerCase()] = v;
      else if (s.in === "query") c.query.push([s.paramName, v]);
      else c.cookies.push([s.paramName, v]);
    }
    if (ok) return c;
  }
  return plan.optional ? empty : undefined;
}
