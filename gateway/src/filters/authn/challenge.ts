// WWW-Authenticate challenges: RFC 6750 §3 (Bearer, error codes), RFC 9728 §5.1 (resource_metadata),
// RFC 9470 §3 (insufficient_user_authentication with acr_values / max_age).

export interface ChallengeParams {
  error?: "invalid_request" | "invalid_token" | "insufficient_scope" | "insufficient_user_authentication";
  errorDescription?: string;
  scope?: string;
  acrValues?: string;
  maxAge?: number;
  resourceMetadata: string;
}

// RFC 6750 §3: error_description and scope values are limited to printable ASCII without `"` and `\`.
function quoted(v: string): string {
  return `"${v.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "")}"`;
}

export function bearerChallenge(p: ChallengeParams): string {
  const parts: string[] = [];
  if (p.error) parts.push(`error=${quoted(p.error)}`);
  if (p.errorDescription) parts.push(`error_description=${quoted(p.errorDescription)}`);
  if (p.acrValues) parts.push(`acr_values=${quoted(p.acrValues)}`);
  if (p.maxAge !== undefined) parts.push(`max_age=${quoted(String(p.maxAge))}`);
  if (p.scope) parts.push(`scope=${quoted(p.scope)}`);
  parts.push(`resource_metadata=${quoted(p.resourceMetadata)}`);
  return `Bearer ${parts.join(", ")}`;
}
