// How the ServiceNow client authenticates: HTTP Basic, OAuth (`/oauth_token.do`, password or
// client-credentials grant, refreshed before expiry), or headers given as is (injected by the gateway).

export type ServiceNowAuth =
  | { kind: "basic"; username: string; password: string }
  | {
      kind: "oauth";
      grant: "password" | "client_credentials";
      clientId: string;
      clientSecret: string;
      username?: string;
      password?: string;
    }
  | { kind: "headers"; headers: Record<string, string> };

export interface TokenSet {
  accessToken: string;
  refreshToken: string | undefined;
  /** Epoch ms. */
  expiresAt: number;
}

/** Raised when the instance refuses the credentials themselves (never carries them). */
export class ServiceNowAuthError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = "ServiceNowAuthError";
    this.status = status;
  }
}

export interface AuthOptions {
  baseUrl: string;
  timeoutMs: number;
  fetch: typeof fetch;
  /** Refresh this long before the token expires (default 60 s, at most half the lifetime). */
  refreshSkewMs?: number;
}

/** Produces the Authorization header for each request; `invalidate()` after a 401 forces new credentials. */
export interface Authenticator {
  headers(): Promise<Record<string, string>>;
  invalidate(): void;
  /** Whether a retry after `invalidate()` can help (true for OAuth). */
  readonly renewable: boolean;
}

export function createAuthenticator(auth: ServiceNowAuth, o: AuthOptions): Authenticator {
  switch (auth.kind) {
    case "basic": {
      const value = `Basic ${Buffer.from(`${auth.username}:${auth.password}`, "utf8").toString("base64")}`;
      return { headers: async () => ({ authorization: value }), invalidate() {}, renewable: false };
    }
    case "headers": {
      const h = Object.fromEntries(Object.entries(auth.headers).map(([k, v]) => [k.toLowerCase(), v]));
      return { headers: async () => h, invalidate() {}, renewable: false };
    }
    case "oauth":
      return new OAuthAuthenticator(auth, o);
  }
}

class OAuthAuthenticator implements Authenticator {
  readonly renewable = true;
  readonly #auth: Extract<ServiceNowAuth, { kind: "oauth" }>;
  readonly #o: AuthOptions;
  #tokens: TokenSet | undefined;
  /** One grant in flight at a time: concurrent requests wait for the same token. */
  #pending: Promise<TokenSet> | undefined;

  constructor(auth: Extract<ServiceNowAuth, { kind: "oauth" }>, o: AuthOptions) {
    if (auth.grant === "password" && (!auth.username || !auth.password))
      throw new TypeError("the OAuth password grant needs username and password");
    this.#auth = auth;
    this.#o = o;
  }

  async headers(): Promise<Record<string, string>> {
    const t = await this.#current();
    return { authorization: `Bearer ${t.accessToken}` };
  }

  invalidate(): void {
    if (this.#tokens) this.#tokens.expiresAt = 0;
  }

  async #current(): Promise<TokenSet> {
    const t = this.#tokens;
    if (t && Date.now() < t.expiresAt) return t;
    this.#pending ??= this.#obtain(t).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #obtain(previous: TokenSet | undefined): Promise<TokenSet> {
    // A refresh token is cheaper than the full grant and keeps working after a password change; fall
    // back to the grant when the instance refuses it (expired or revoked).
    if (previous?.refreshToken) {
      try {
        const t = await this.#grant({ grant_type: "refresh_token", refresh_token: previous.refreshToken });
        t.refreshToken ??= previous.refreshToken;
        this.#tokens = t;
        return t;
      } catch (e) {
        if (!(e instanceof ServiceNowAuthError)) throw e;
      }
    }
    const a = this.#auth;
    const form: Record<string, string> =
      a.grant === "password"
        ? { grant_type: "password", username: a.username ?? "", password: a.password ?? "" }
        : { grant_type: "client_credentials" };
    const t = await this.#grant(form);
    this.#tokens = t;
    return t;
  }

  async #grant(fields: Record<string, string>): Promise<TokenSet> {
    const body = new URLSearchParams({ ...fields, client_id: this.#auth.clientId, client_secret: this.#auth.clientSecret });
    let res: Response;
    try {
      res = await this.#o.fetch(new URL("/oauth_token.do", this.#o.baseUrl), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
    } catch (e) {
      throw new ServiceNowAuthError(`OAuth token request failed: ${e instanceof Error ? e.message : String(e)}`, 0);
    }
    const text = await res.text();
    if (!res.ok) {
      let reason = "";
      try {
        const j = JSON.parse(text) as { error?: string; error_description?: string };
        reason = [j.error, j.error_description].filter(Boolean).join(": ");
      } catch {
        reason = "";
      }
      throw new ServiceNowAuthError(
        `OAuth ${fields.grant_type} grant refused (HTTP ${res.status}${reason ? `, ${reason}` : ""})`,
        res.status,
      );
    }
    const j = JSON.parse(text) as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown };
    if (typeof j.access_token !== "string") throw new ServiceNowAuthError("OAuth token response has no access_token", res.status);
    const lifetimeMs = (typeof j.expires_in === "number" ? j.expires_in : Number(j.expires_in ?? 1799)) * 1000;
    const skew = Math.min(this.#o.refreshSkewMs ?? 60_000, lifetimeMs / 2);
    return {
      accessToken: j.access_token,
      refreshToken: typeof j.refresh_token === "string" ? j.refresh_token : undefined,
      expiresAt: Date.now() + lifetimeMs - skew,
    };
  }
}
