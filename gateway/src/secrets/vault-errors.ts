// Errors from the secret store, classified by what the cache may do about them.
// They carry no secret: never the token, never a response body, never the HTTP library's error object.

/**
 * - `unavailable`: the store could not answer (connection refused, timeout, 5xx, 503 sealed, 429).
 *   A cached value may still be served up to its max-stale.
 * - `denied`: the store refused the gateway (403 after a fresh login). Served values are dropped.
 * - `not_found`: the path or key does not exist (404, or the key is missing from the data).
 * - `invalid`: the store answered something we cannot use (wrong shape, bad reference).
 */
export type SecretErrorKind = "unavailable" | "denied" | "not_found" | "invalid";

export class SecretStoreError extends Error {
  readonly kind: SecretErrorKind;
  /** HTTP status from the store, when there was one. */
  readonly status: number | undefined;
  constructor(kind: SecretErrorKind, message: string, status?: number) {
    super(message);
    this.name = "SecretStoreError";
    this.kind = kind;
    this.status = status;
  }
}

export function isSecretStoreError(e: unknown): e is SecretStoreError {
  return e instanceof SecretStoreError;
}

/** Vault's documented status codes (https://openbao.org/api-docs/#http-status-codes) mapped to a kind. */
export function kindForStatus(status: number): SecretErrorKind {
  if (status === 403 || status === 401) return "denied";
  if (status === 404) return "not_found";
  if (status === 400) return "invalid";
  // 429 (standby / rate limit), 472/473 (DR / performance standby), 500, 502, 503 (sealed), 504.
  return "unavailable";
}
