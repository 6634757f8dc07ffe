// JWT access tokens against a real OpenID provider: every rejection path of issue 3 and the exact
// challenges (RFC 6750 §3, RFC 9728 §5.1, RFC 9470 §3), run on a synthetic Exchange (no listener).

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AUTHN_RESULT, type AuthnFilter, createAuthnFilter } from "../../src/filters/authn/index.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import { authConfig, BASE, bearer, exchange, expectReply, summary } from "./helpers.ts";

const RES = `${BASE}/mcp/echo`;
const PRM = `${BASE}/.well-known/oauth-protected-resource/mcp/echo`;

let idp: Idp;
let filter: AuthnFilter;

function makeFilter(extra: Record<string, unknown> = {}, issuerExtra: Record<string, unknown> = {}): AuthnFilter {
  return createAuthnFilter({
    publicBaseUrl: BASE,
    auth: authConfig({
      allowInsecureLoopback: true,
      issuers: [{ issuer: idp.issuer, clockSkewSeconds: 5, ...issuerExtra }],
      routes: {
        scoped: { requiredScopes: ["mcp:write"] },
        mfa: { mfa: { acrValues: ["mfa"], maxAgeSeconds: 600 } },
      },
      ...extra,
    }),
  });
}

beforeAll(async () => {
  idp = await startIdp({ defaultAudience: RES });
  filter = makeFilter();
  await filter.warmUp();
});
afterAll(async () => {
  await filter?.close();
  await idp?.close();
});

const run = (token: string, server = "echo") => {
  const ex = exchange(server, bearer(token));
  return Promise.resolve(filter.onRequest!(ex)).then((v) => ({ v, ex }));
};

const invalid = (desc: string, scopeless = true) =>
  `Bearer error="invalid_token", error_description="${desc}", resource_metadata="${PRM}"${scopeless ? "" : ""}`;

describe("valid tokens", () => {
  it("accepts a client_credentials JWT issued for the route's resource (RFC 8707 + RFC 9068)", async () => {
    const t = await idp.clientCredentials({ resource: RES, scope: "mcp:tools" });
    const { v, ex } = await run(t.access_token);
    expect(v).toBeUndefined();
    expect(ex.principal).toMatchObject({
      sub: idp.clients.m2m.clientId,
      iss: idp.issuer,
      clientId: idp.clients.m2m.clientId,
      scopes: ["mcp:tools"],
    });
    expect(ex.vars.get(AUTHN_RESULT)).toMatchObject({ method: "jwt", cached: false });
    // Second use is answered from the verified-token cache.
    const again = await run(t.access_token);
    expect(again.v).toBeUndefined();
    expect(again.ex.vars.get(AUTHN_RESULT)).toMatchObject({ method: "jwt", cached: true });
  });

  it("accepts an authorization-code + PKCE token of a logged-in user, with groups/amr/acr", async () => {
    const t = await idp.authorizationCode({ account: "alice", resource: RES, scope: "openid mcp:tools" });
    const { v, ex } = await run(t.access_token);
    expect(v).toBeUndefined();
    expect(ex.principal).toMatchObject({
      sub: "alice",
      groups: ["eng", "admins"],
      amr: ["pwd", "mfa"],
      acr: "mfa",
      clientId: "mcp-public-client",
    });
    expect(ex.principal!.expiresAt).toBeGreaterThan(Date.now() / 1000);
  });

  it("runs on GET and DELETE as well as POST", async () => {
    const t = await idp.mintToken();
    for (const httpMethod of ["GET", "DELETE"] as const) {
      const ex = exchange("echo", bearer(t), { httpMethod });
      expect(await filter.onRequest!(ex)).toBeUndefined();
      expect(ex.principal?.sub).toBe("alice");
    }
  });

  it("accepts an ES256 token and a plain JWT (typ JWT)", async () => {
    expect((await run(await idp.mintToken({ alg: "ES256" }))).v).toBeUndefined();
    expect((await run(await idp.mintToken({ typ: "JWT" }))).v).toBeUndefined();
    expect((await run(await idp.mintToken({ typ: null }))).v).toBeUndefined();
  });
});

describe("rejections", () => {
  it("no token → 401 with resource_metadata and no error code", async () => {
    const v = await filter.onRequest!(exchange("echo"));
    expect(summary(v)).toEqual({ code: "UNAUTHENTICATED", status: 401, challenge: `Bearer resource_metadata="${PRM}"` });
  });

  it("no token on a route with required scopes → challenge carries scope", async () => {
    const v = await filter.onRequest!(exchange("scoped"));
    expect(summary(v)?.challenge).toBe(
      `Bearer scope="mcp:write", resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp/scoped"`,
    );
  });

  it("another scheme (Basic) → 401 challenge; malformed Bearer → 400 invalid_request", async () => {
    expect(summary(await filter.onRequest!(exchange("echo", { authorization: "Basic dXNlcjpwYXNz" })))?.code).toBe("UNAUTHENTICATED");
    for (const authorization of ["Bearer", "Bearer ", "Bearer a b", "Bearer tok€n", 'Bearer "x"', `Bearer ${"a".repeat(17_000)}`]) {
      const r = summary(await filter.onRequest!(exchange("echo", { authorization })));
      expect(r?.code, authorization.slice(0, 20)).toBe("MALFORMED_AUTHORIZATION");
      expect(r?.status).toBe(400);
      expect(r?.challenge).toMatch(/^Bearer error="invalid_request", error_description="[^"]+", resource_metadata="/);
    }
    // Case-insensitive scheme (RFC 9110 §11.1).
    expect((await run(await idp.mintToken())).v).toBeUndefined();
    const ex = exchange("echo", { authorization: `bearer ${await idp.mintToken()}` });
    expect(await filter.onRequest!(ex)).toBeUndefined();
  });

  it("token in the query string → 400 TOKEN_IN_QUERY, even with a valid header", async () => {
    const t = await idp.mintToken();
    const v = await filter.onRequest!(exchange("echo", bearer(t), { url: `/mcp/echo?access_token=${t}` }));
    expect(summary(v)).toEqual({
      code: "TOKEN_IN_QUERY",
      status: 400,
      challenge: `Bearer error="invalid_request", error_description="access_token in the URL is not accepted", resource_metadata="${PRM}"`,
    });
  });

  it("expired → 401 invalid_token", async () => {
    const v = (await run(await idp.mintToken({ expiresIn: -60 }))).v;
    expect(summary(v)).toEqual({ code: "INVALID_TOKEN", status: 401, challenge: invalid("token expired") });
  });

  it("expired within the clock skew is still accepted (bounded skew)", async () => {
    expect((await run(await idp.mintToken({ expiresIn: -2 }))).v).toBeUndefined();
  });

  it("not yet valid (nbf in the future beyond skew) → 401", async () => {
    expect(summary((await run(await idp.mintToken({ notBeforeIn: 120 }))).v)?.challenge).toBe(invalid("token not yet valid (nbf)"));
  });

  it("a sender-constrained token (cnf, RFC 9449 / 8705) is refused as a bearer token → 401", async () => {
    const t = await idp.mintToken({ claims: { cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } } });
    expect(summary((await run(t)).v)?.challenge).toBe(invalid("sender-constrained tokens (cnf) are not supported"));
  });

  it("no exp → 401", async () => {
    expect(summary((await run(await idp.mintToken({ noExp: true }))).v)?.challenge).toBe(invalid("token has no valid exp"));
  });

  it("wrong issuer → 401", async () => {
    expect(summary((await run(await idp.mintToken({ iss: "https://evil.example" }))).v)?.challenge).toBe(
      invalid("token issuer is not trusted"),
    );
  });

  it("wrong audience (another route, another resource, the IdP client) → 401", async () => {
    for (const aud of [`${BASE}/mcp/other`, "https://api.example.test", idp.clients.public.clientId, BASE]) {
      expect(summary((await run(await idp.mintToken({ aud }))).v)?.challenge, aud).toBe(invalid("token audience is not this resource"));
    }
    // A real token for route "other" is not accepted on "echo", even once cached as valid for "other".
    const t = await idp.clientCredentials({ resource: `${BASE}/mcp/other`, scope: "mcp:tools" });
    expect((await run(t.access_token, "other")).v).toBeUndefined();
    expect(summary((await run(t.access_token, "echo")).v)?.code).toBe("INVALID_TOKEN");
  });

  it("bad signature (unpublished key, published kid) → 401", async () => {
    expect(summary((await run(await idp.mintToken({ key: "unpublished-same-kid" }))).v)?.challenge).toBe(
      invalid("token signature invalid"),
    );
    // Payload tampered after signing.
    const [h, , s] = (await idp.mintToken()).split(".");
    const forged = Buffer.from(JSON.stringify({ iss: idp.issuer, sub: "root", aud: RES, exp: 9e9 })).toString("base64url");
    expect(summary((await run(`${h}.${forged}.${s}`)).v)?.challenge).toBe(invalid("token signature invalid"));
  });

  it("alg none → 401", async () => {
    expect(summary((await run(await idp.mintToken({ alg: "none" }))).v)?.challenge).toBe(invalid("unsigned tokens (alg none) are refused"));
  });

  it("HS256 signed with the RSA public key (algorithm confusion) → 401", async () => {
    expect(summary((await run(await idp.mintToken({ alg: "HS256-public-key" }))).v)?.challenge).toBe(
      invalid("algorithm HS256 not allowed"),
    );
  });

  it("an ID token (typ or aud of the client) is not an access token", async () => {
    expect(summary((await run(await idp.mintToken({ typ: "id+jwt" }))).v)?.challenge).toBe(
      invalid("token type id+jwt is not an access token"),
    );
    const t = await idp.authorizationCode({ account: "bob", resource: RES, scope: "openid mcp:tools" });
    expect(summary((await run(t.id_token!)).v)?.code).toBe("INVALID_TOKEN");
  });

  it("requireAtJwt refuses plain JWTs", async () => {
    const f = makeFilter({}, { requireAtJwt: true });
    const v = await f.onRequest!(exchange("echo", bearer(await idp.mintToken({ typ: "JWT" }))));
    expect(summary(v)?.challenge).toBe(invalid("token type must be at+jwt (RFC 9068)"));
    expect(await f.onRequest!(exchange("echo", bearer(await idp.mintToken())))).toBeUndefined();
    await f.close();
  });

  it("token without sub → 401", async () => {
    expect(summary((await run(await idp.mintToken({ claims: { sub: undefined } }))).v)?.challenge).toBe(invalid("token has no sub claim"));
  });
});

describe("scopes and MFA", () => {
  it("missing required scope → 403 insufficient_scope with the needed scope", async () => {
    const v = (await run(await idp.mintToken({ aud: `${BASE}/mcp/scoped`, scope: "mcp:read" }), "scoped")).v;
    expect(summary(v)).toEqual({
      code: "INSUFFICIENT_SCOPE",
      status: 403,
      challenge: `Bearer error="insufficient_scope", error_description="scope mcp:write required", scope="mcp:write", resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp/scoped"`,
    });
    expect((await run(await idp.mintToken({ aud: `${BASE}/mcp/scoped`, scope: "mcp:read mcp:write" }), "scoped")).v).toBeUndefined();
    // Entra/Okta style `scp`.
    expect((await run(await idp.mintToken({ aud: `${BASE}/mcp/scoped`, claims: { scp: ["mcp:write"] } }), "scoped")).v).toBeUndefined();
  });

  it("route demanding MFA: password-only login → 401 insufficient_user_authentication (RFC 9470)", async () => {
    const aud = `${BASE}/mcp/mfa`;
    const now = Math.floor(Date.now() / 1000);
    const v = (await run(await idp.mintToken({ aud, sub: "bob", claims: { amr: ["pwd"], acr: "pwd", auth_time: now } }), "mfa")).v;
    expect(summary(v)).toEqual({
      code: "MFA_REQUIRED",
      status: 401,
      challenge: `Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required", acr_values="mfa", max_age="600", resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp/mfa"`,
    });
    // amr mfa (Duo through the IdP) or the acr value satisfy it, with a recent auth_time.
    expect((await run(await idp.mintToken({ aud, claims: { amr: ["pwd", "mfa"], auth_time: now } }), "mfa")).v).toBeUndefined();
    expect((await run(await idp.mintToken({ aud, claims: { acr: "mfa", auth_time: now } }), "mfa")).v).toBeUndefined();
    // Too old for max_age.
    const old = (await run(await idp.mintToken({ aud, claims: { amr: ["mfa"], auth_time: now - 3600 } }), "mfa")).v;
    expect(summary(old)?.challenge).toContain('error_description="authentication is too old"');
  });
});

describe("JWKS cache, rotation and IdP failure", () => {
  it("unknown kid → one refetch, then 401; a rotated key is picked up by the refetch", async () => {
    const f = makeFilter({ jwks: { cooldownSeconds: 0, maxAgeSeconds: 600 } });
    await f.warmUp();
    const rt = f.issuer(idp.issuer)!;
    const before = rt.fetches;
    const v = await f.onRequest!(exchange("echo", bearer(await idp.mintToken({ key: "unknown-kid" }))));
    expect(summary(v)?.challenge).toBe(invalid("token signed with an unknown key"));
    expect(rt.fetches).toBe(before + 1);
    await idp.rotateKey();
    expect(await f.onRequest!(exchange("echo", bearer(await idp.mintToken())))).toBeUndefined();
    expect(rt.fetches).toBe(before + 2);
    await f.close();
  });

  it("refetch on unknown kid is rate-limited by the cooldown", async () => {
    const f = makeFilter({ jwks: { cooldownSeconds: 30, maxAgeSeconds: 600 } });
    await f.warmUp();
    const rt = f.issuer(idp.issuer)!;
    const before = rt.fetches;
    for (let i = 0; i < 5; i++) {
      const v = await f.onRequest!(exchange("echo", bearer(await idp.mintToken({ key: "unknown-kid", kid: `random-${i}` }))));
      expect(summary(v)?.code).toBe("INVALID_TOKEN");
    }
    expect(rt.fetches).toBe(before);
    await f.close();
  });

  it("IdP down: cached keys keep working, an unknown kid is refused with 401 and a log line", async () => {
    const lines: string[] = [];
    const log = { debug() {}, info() {}, warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      log,
      auth: authConfig({
        allowInsecureLoopback: true,
        issuers: [{ issuer: idp.issuer }],
        jwks: { cooldownSeconds: 0, maxAgeSeconds: 600 },
        tokenCacheSize: 0,
      }),
    });
    await f.warmUp();
    const good = await idp.mintToken();
    const unknown = await idp.mintToken({ key: "unknown-kid" });
    idp.setDown(true);
    try {
      expect(await f.onRequest!(exchange("echo", bearer(good)))).toBeUndefined();
      const v = await f.onRequest!(exchange("echo", bearer(unknown)));
      expect(summary(v)?.code).toBe("INVALID_TOKEN");
      expect(lines).toContain("authn: JWKS fetch failed; keeping cached keys");
      expect(lines).toContain("authn: unknown kid and JWKS refetch failed");
    } finally {
      idp.setDown(false);
      await f.close();
    }
  });

  it("IdP down before any key was loaded → 503 IDP_UNAVAILABLE, never allowed", async () => {
    const f = makeFilter();
    idp.setDown(true);
    try {
      const v = await f.onRequest!(exchange("echo", bearer(await idp.mintToken())));
      expect(summary(v)).toMatchObject({ code: "IDP_UNAVAILABLE", status: 503 });
      expect(expectReply(v).headers?.["retry-after"]).toBe("5");
    } finally {
      idp.setDown(false);
      await f.close();
    }
  });

  it("a token expiring mid-session is refused on the next request (cache honours exp)", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const f = makeFilter({}, { clockSkewSeconds: 0 });
      const t = await idp.mintToken({ expiresIn: 30 });
      expect(await f.onRequest!(exchange("echo", bearer(t)))).toBeUndefined();
      expect(await f.onRequest!(exchange("echo", bearer(t)))).toBeUndefined();
      vi.setSystemTime(Date.now() + 31_000);
      expect(summary(await f.onRequest!(exchange("echo", bearer(t))))?.challenge).toBe(invalid("token expired"));
      await f.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
