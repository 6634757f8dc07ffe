// Claims mapping: where each issuer keeps groups/roles, scopes, client id, amr/acr and tenant, turned
// into the typed Principal the policies read (ARCHITECTURE.md, "The OPA contract": subject).

import type { Principal } from "../../chain/types.ts";
import type { ClaimsMapping } from "../../config/schema-authn.ts";

/** A claim by path: the literal key first (URL-shaped claim names contain dots), then a dot path. */
export function claimAt(obj: Record<string, unknown>, path: string): unknown {
  if (path in obj) return obj[path];
  if (!path.includes(".")) return undefined;
  let cur: unknown = obj;
  for (const seg of path.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** Array of strings, or a space/comma-separated string (`scope` is space-separated per RFC 6749 §3.3). */
export function stringList(v: unknown): string[] {
  if (typeof v === "string") return v.split(/[\s,]+/).filter((s) => s.length > 0);
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === "string" && s.length > 0);
  return [];
}

export type ClaimsMapper = (claims: Record<string, unknown>, iss: string) => Principal | string;

/** Compile a mapping once (config time); the returned function runs per verified token. */
export function compileClaimsMapping(m: ClaimsMapping): ClaimsMapper {
  const groupPaths = [...m.groups];
  const scopePaths = [...m.scopes];
  const clientPaths = [...m.clientId];
  return (claims, iss) => {
    let clientId: string | undefined;
    for (const p of clientPaths) {
      const c = claimAt(claims, p);
      if (typeof c === "string" && c) {
        clientId = c;
        break;
      }
    }
    let sub = claimAt(claims, m.subject);
    // RFC 7662 §2.2 makes `sub` optional; for a client_credentials token the client is the subject
    // (as RFC 9068 §2.2 has it for JWT access tokens).
    if (sub === undefined && clientId !== undefined && claims.active === true) sub = clientId;
    if (typeof sub !== "string" || sub.length === 0) return `token has no ${m.subject} claim`;
    const groups: string[] = [];
    for (const p of groupPaths) for (const g of stringList(claimAt(claims, p))) if (!groups.includes(g)) groups.push(g);
    const scopes: string[] = [];
    for (const p of scopePaths) for (const s of stringList(claimAt(claims, p))) if (!scopes.includes(s)) scopes.push(s);
    const acr = claimAt(claims, m.acr);
    const tenant = m.tenant ? claimAt(claims, m.tenant) : undefined;
    const exp = claims.exp;
    const p: Principal = {
      sub,
      iss,
      groups,
      scopes,
      amr: stringList(claimAt(claims, m.amr)),
      claims,
      ...(clientId !== undefined ? { clientId } : {}),
      ...(typeof acr === "string" ? { acr } : {}),
      ...(typeof tenant === "string" ? { tenant } : {}),
      ...(typeof exp === "number" ? { expiresAt: exp } : {}),
    };
    return p;
  };
}

/** Deep-freeze a principal that is shared between requests (cache hits) so no stage can alter another's view. */
export function freezePrincipal(p: Principal): Principal {
  Object.freeze(p.groups);
  Object.freeze(p.scopes);
  Object.freeze(p.amr);
  Object.freeze(p.claims);
  return Object.freeze(p);
}
