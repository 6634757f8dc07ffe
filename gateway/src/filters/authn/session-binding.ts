// The session stage's check that a sealed session belongs to the caller (MCP security best practices:
// bind session state to the verified user). Authn runs on every request, so an expired token is
// refused before the session stage even looks at the session id.

import type { Principal } from "../../chain/types.ts";

/**
 * True when the session was opened by this principal (same sub and iss). A session opened without a
 * principal (auth disabled) matches only a request without one. A mismatch must be answered as an
 * unknown session (404 SESSION_NOT_FOUND), never as "forbidden", so session ids leak nothing.
 */
export function sessionBelongsTo(
  principal: Principal | undefined,
  session: { sub?: string | undefined; iss?: string | undefined },
): boolean {
  if (!principal) return session.sub === undefined && session.iss === undefined;
  return session.sub === principal.sub && session.iss === principal.iss;
}

/** The claims to seal into a new session for this principal. */
export function sessionBindingClaims(principal: Principal | undefined): { sub?: string; iss?: string } {
  return principal ? { sub: principal.sub, iss: principal.iss } : {};
}
