// Opaque access tokens: RFC 7662 introspection, or OIDC userinfo (Core §5.3) as the reference
// architecture does, both through openid-client. Any failure to get an answer is "unavailable" (503).

import type * as oidc from "openid-client";
import type { IssuerConfig } from "../../config/schema-authn.ts";
import { type AuthnLog, IdpUnavailableError, type IssuerRuntime } from "./issuer-keys.ts";
import type { GuardedFetch } from "./ssrf.ts";

/** What an opaque token turned out to be. `claims` feed the issuer's claims mapping. */
export type OpaqueResult =
  | { active: true; claims: Record<string, unknown>; aud: string[] | undefined; exp: number | undefined; via: "introspection" | "userinfo" }
  | { active: false; reason: string };

// openid-client is loaded by the first opaque token: JWT-only issuers never load it (docs/design/memory.md).
let loaded: Promise<typeof oidc> | undefined;
const openidClient = () => {
  loaded ??= import("openid-client");
  return loaded;
};

export class OpaqueTokenVerifier {
  readonly #rt: IssuerRuntime;
  readonly #cfg: IssuerConfig;
  readonly #fetch: GuardedFetch;
  readonly #log: AuthnLog;
  #config: Promise<oidc.Configuration> | undefined;

  constructor(rt: IssuerRuntime, fetchFn: GuardedFetch, log: AuthnLog) {
    this.#rt = rt;
    this.#cfg = rt.config;
    this.#fetch = fetchFn;
    this.#log = log;
  }

  get mode(): "introspection" | "userinfo" | undefined {
    return this.#cfg.introspection ? "introspection" : this.#cfg.userinfo ? "userinfo" : undefined;
  }

  #configuration(): Promise<oidc.Configuration> {
    if (this.#config) return this.#config;
    const p = (async () => {
      const oidc = await openidClient();
      const intro = this.#cfg.introspection;
      const ui = this.#cfg.userinfo;
      const endpointOverride = intro ? intro.endpoint : ui?.endpoint;
      const meta: oidc.ServerMetadata = endpointOverride
        ? { issuer: this.#cfg.issuer, ...(intro ? { introspection_endpoint: endpointOverride } : { userinfo_endpoint: endpointOverride }) }
        : ((await this.#rt.metadata()) as oidc.ServerMetadata);
      if (intro && !meta.introspection_endpoint)
        throw new IdpUnavailableError(`issuer ${this.#cfg.issuer} publishes no introspection_endpoint`);
      if (!intro && !meta.userinfo_endpoint) throw new IdpUnavailableError(`issuer ${this.#cfg.issuer} publishes no userinfo_endpoint`);
      const clientAuth = intro
        ? intro.authMethod === "client_secret_post"
          ? oidc.ClientSecretPost(intro.clientSecret.reveal())
          : oidc.ClientSecretBasic(intro.clientSecret.reveal())
        : oidc.None();
      const c = new oidc.Configuration(meta, intro?.clientId ?? "mcp-gateway", undefined, clientAuth);
      // The guarded fetch enforces https / loopback / private-range rules itself (ssrf.ts).
      c[oidc.customFetch] = this.#fetch as never;
      if (new URL(meta.issuer).protocol === "http:") oidc.allowInsecureRequests(c);
      return c;
    })();
    this.#config = p;
    p.catch(() => {
      // Retry discovery on the next request rather than caching a failure forever.
      if (this.#config === p) this.#config = undefined;
    });
    return p;
  }

  async verify(token: string): Promise<OpaqueResult> {
    const config = await this.#configuration();
    const oidc = await openidClient();
    if (this.#cfg.introspection) {
      let r: oidc.IntrospectionResponse;
      try {
        r = await oidc.tokenIntrospection(config, token);
      } catch (e) {
        this.#log.error("authn: token introspection failed", { "authn.issuer": this.#cfg.issuer, "error.message": (e as Error).message });
        throw new IdpUnavailableError("introspection endpoint unavailable", { cause: e });
      }
      if (r.active !== true) return { active: false, reason: "token is not active (introspection)" };
      // RFC 7662 §2.2: iss, if present, names the issuer we asked.
      if (r.iss !== undefined && r.iss !== this.#cfg.issuer) return { active: false, reason: "introspection names another issuer" };
      const aud = r.aud === undefined ? undefined : Array.isArray(r.aud) ? r.aud.map(String) : [String(r.aud)];
      return {
        active: true,
        claims: { ...r, iss: this.#cfg.issuer },
        aud,
        exp: typeof r.exp === "number" ? r.exp : undefined,
        via: "introspection",
      };
    }
    try {
      const claims = await oidc.fetchUserInfo(config, token, oidc.skipSubjectCheck);
      return { active: true, claims: { ...claims, iss: this.#cfg.issuer }, aud: undefined, exp: undefined, via: "userinfo" };
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401 || status === 403) return { active: false, reason: "token rejected by userinfo" };
      this.#log.error("authn: userinfo request failed", { "authn.issuer": this.#cfg.issuer, "error.message": (e as Error).message });
      throw new IdpUnavailableError("userinfo endpoint unavailable", { cause: e });
    }
  }
}
