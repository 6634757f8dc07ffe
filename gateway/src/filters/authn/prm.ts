// OAuth 2.0 Protected Resource Metadata (RFC 9728) for each route and for the gateway root, and the
// canonical resource URL of a route (RFC 8707 §2; MCP authorization spec "Canonical Server URI").

import type { AuthConfig } from "../../config/schema-authn.ts";

export const PRM_WELL_KNOWN = "/.well-known/oauth-protected-resource";

function splitBase(publicBaseUrl: string): { origin: string; path: string } {
  const u = new URL(publicBaseUrl);
  return { origin: u.origin, path: u.pathname.replace(/\/+$/, "") };
}

/** The canonical resource URL: publicBaseUrl + /mcp/{name}, or the base URL itself without a route. */
export function resourceUrl(publicBaseUrl: string, route?: string): string {
  const { origin, path } = splitBase(publicBaseUrl);
  return route === undefined ? `${origin}${path}` : `${origin}${path}/mcp/${encodeURIComponent(route)}`;
}

/** RFC 9728 §3.1: the well-known segment goes between the host and the resource's path. */
export function prmUrl(publicBaseUrl: string, route?: string): string {
  const { origin, path } = splitBase(publicBaseUrl);
  return route === undefined ? `${origin}${PRM_WELL_KNOWN}${path}` : `${origin}${PRM_WELL_KNOWN}${path}/mcp/${encodeURIComponent(route)}`;
}

/** Listener path of the metadata (what arrives at the gateway when it is not behind a path-rewriting proxy). */
export function prmPath(publicBaseUrl: string, route?: string): string {
  return new URL(prmUrl(publicBaseUrl, route)).pathname;
}

/**
 * Which metadata a request path asks for: `{ route: name }`, `{ route: undefined }` for the root form,
 * or undefined when the path is not a PRM path. Accepts the path with or without the base URL's path.
 */
export function matchPrmPath(pathname: string, publicBaseUrl?: string): { route: string | undefined } | undefined {
  if (!pathname.startsWith(PRM_WELL_KNOWN)) return undefined;
  let rest = pathname.slice(PRM_WELL_KNOWN.length);
  const basePath = publicBaseUrl ? splitBase(publicBaseUrl).path : "";
  if (basePath && (rest === basePath || rest.startsWith(`${basePath}/`))) rest = rest.slice(basePath.length);
  if (rest === "" || rest === "/") return { route: undefined };
  const m = /^\/mcp\/([^/]+)\/?$/.exec(rest);
  if (!m) return undefined;
  try {
    return { route: decodeURIComponent(m[1]!) };
  } catch {
    return undefined;
  }
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  resource_name?: string;
  resource_documentation?: string;
}

/** The RFC 9728 §2 document for a route (or the root). Pure: build once per route and serve the JSON. */
export function protectedResourceMetadata(auth: AuthConfig, publicBaseUrl: string, route?: string): ProtectedResourceMetadata {
  const routeCfg = route === undefined ? undefined : (auth.routes[route] ?? auth.defaultRoute);
  const allowed = routeCfg?.issuers ? new Set(routeCfg.issuers) : undefined;
  const authorizationServers = auth.issuers.filter((i) => i.advertise && (!allowed || allowed.has(i.issuer))).map((i) => i.issuer);
  const scopes = [...(routeCfg?.requiredScopes ?? []), ...(auth.scopesSupported ?? [])].filter((s, i, a) => a.indexOf(s) === i);
  return {
    resource: resourceUrl(publicBaseUrl, route),
    authorization_servers: authorizationServers,
    ...(scopes.length ? { scopes_supported: scopes } : {}),
    // MCP: tokens only in the Authorization header, never in the query string (RFC 6750 §2.1 only).
    bearer_methods_supported: ["header"],
    ...(route !== undefined ? { resource_name: route } : {}),
    ...(auth.resourceDocumentation ? { resource_documentation: auth.resourceDocumentation } : {}),
  };
}

export interface PrmResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Request handler for the listener: answers GET/HEAD/OPTIONS on a PRM path, or returns undefined (not ours).
 * `routes` are the configured route names (unknown routes get 404, like the MCP endpoint itself).
 * The document is public and fetched by browser-based clients, hence CORS `*` (no credentials involved).
 */
export function handleProtectedResourceMetadata(
  method: string,
  pathname: string,
  o: { auth: AuthConfig; publicBaseUrl: string; routes: ReadonlySet<string> | readonly string[] },
): PrmResponse | undefined {
  const m = matchPrmPath(pathname, o.publicBaseUrl);
  if (!m) return undefined;
  const cors = { "access-control-allow-origin": "*", "access-control-allow-methods": "GET, OPTIONS" };
  if (method === "OPTIONS") return { status: 204, headers: cors, body: "" };
  if (method !== "GET" && method !== "HEAD") return { status: 405, headers: { ...cors, allow: "GET, OPTIONS" }, body: "" };
  const known = o.routes instanceof Set ? o.routes.has(m.route ?? "") : (o.routes as readonly string[]).includes(m.route ?? "");
  if (m.route !== undefined && !known) return { status: 404, headers: cors, body: "" };
  const body = JSON.stringify(protectedResourceMetadata(o.auth, o.publicBaseUrl, m.route));
  return {
    status: 200,
    headers: { ...cors, "content-type": "application/json", "cache-control": "public, max-age=300" },
    body: method === "HEAD" ? "" : body,
  };
}
