// Opaque access tokens: RFC 7662 introspection against the real provider (active, revoked, audience,
// cache lifetime, endpoint down → 503) and OIDC userinfo as the alternative (reference architecture).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTHN_RESULT, type AuthnFilter, createAuthnFilter } from "../../src/filters/authn/index.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import { authConfig, BASE, bearer, exchange, summary } from "./helpers.ts";

const RES = `${BASE}/mcp/opaque`;
let idp: Idp;

function introspectingFilter(cacheMaxSeconds = 60): AuthnFilter {
  return createAuthnFilter({
    publicBaseUrl: BASE,
    auth: authConfig({
      allowInsecureLoopback: true,
      issuers: [
        {
          issuer: idp.issuer,
          introspection: {
            clientId: idp.clients.introspector.clientId,
            clientSecret: idp.clients.introspector.clientSecret,
            cacheMaxSeconds,
          },
        },
      ],
    }),
  });
}

beforeAll(async () => {
  idp = await startIdp({ opaqueResources: [RES] });
});
afterAll(async () => {
  await idp?.close();
});

describe("introspection (RFC 7662)", () => {
  it("an active opaque token for this resource is admitted, and cached", async () => {
    const f = introspectingFilter();
    const t = await idp.clientCredentials({ resource: RES, scope: "mcp:tools mcp:read" });
    expect(t.access_token.split(".").length).toBe(1);
    const ex = exchange("opaque", bearer(t.access_token));
    expect(await f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal).toMatchObject({
      sub: idp.clients.m2m.clientId,
      iss: idp.issuer,
      scopes: ["mcp:tools", "mcp:read"],
      clientId: idp.clients.m2m.clientId,
    });
    expect(ex.vars.get(AUTHN_RESULT)).toMatchObject({ method: "introspection", cached: false });
    const calls = idp.hits.get("/token/introspection");
    const ex2 = exchange("opaque", bearer(t.access_token));
    expect(await f.onRequest!(ex2)).toBeUndefined();
    expect(ex2.vars.get(AUTHN_RESULT)).toMatchObject({ method: "introspection", cached: true });
    expect(idp.hits.get("/token/introspection")).toBe(calls);
    // The same active token is not valid for another route (audience is the opaque route's resource).
    expect(summary(await f.onRequest!(exchange("echo", bearer(t.access_token))))?.code).toBe("INVALID_TOKEN");
    await f.close();
  });

  it("a user's opaque token carries the account's claims (groups, amr)", async () => {
    const f = introspectingFilter();
    const t = await idp.authorizationCode({ account: "alice", resource: RES, scope: "openid mcp:tools" });
    const ex = exchange("opaque", bearer(t.access_token));
    expect(await f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal).toMatchObject({ sub: "alice", groups: ["eng", "admins"], amr: ["pwd", "mfa"], acr: "mfa" });
    await f.close();
  });

  it("revoked → introspection inactive → 401 invalid_token", async () => {
    const f = introspectingFilter();
    const t = await idp.clientCredentials({ resource: RES, scope: "mcp:tools" });
    await idp.revoke(t.access_token);
    const v = await f.onRequest!(exchange("opaque", bearer(t.access_token)));
    expect(summary(v)).toEqual({
      code: "INVALID_TOKEN",
      status: 401,
      challenge: `Bearer error="invalid_token", error_description="token is not active (introspection)", resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp/opaque"`,
    });
    await f.close();
  });

  it("with cacheMaxSeconds 0, a revocation takes effect on the next request", async () => {
    const f = introspectingFilter(0);
    const t = await idp.clientCredentials({ resource: RES, scope: "mcp:tools" });
    expect(await f.onRequest!(exchange("opaque", bearer(t.access_token)))).toBeUndefined();
    await idp.revoke(t.access_token);
    expect(summary(await f.onRequest!(exchange("opaque", bearer(t.access_token))))?.code).toBe("INVALID_TOKEN");
    await f.close();
  });

  it("garbage opaque token → 401", async () => {
    const f = introspectingFilter();
    expect(summary(await f.onRequest!(exchange("opaque", bearer("not-a-real-token"))))?.code).toBe("INVALID_TOKEN");
    await f.close();
  });

  it("an opaque token without audience (userinfo-only) is refused by introspection unless allowed", async () => {
    const f = introspectingFilter();
    const t = await idp.authorizationCode({ account: "bob", scope: "openid" });
    const v = await f.onRequest!(exchange("opaque", bearer(t.access_token)));
    expect(summary(v)?.challenge).toContain('error_description="introspection response has no aud"');
    await f.close();
  });

  it("introspection endpoint down → 503 IDP_UNAVAILABLE, never allowed", async () => {
    const f = introspectingFilter(0);
    const t = await idp.clientCredentials({ resource: RES, scope: "mcp:tools" });
    expect(await f.onRequest!(exchange("opaque", bearer(t.access_token)))).toBeUndefined();
    idp.setDown(true);
    try {
      const v = await f.onRequest!(exchange("opaque", bearer(t.access_token)));
      expect(summary(v)).toEqual({ code: "IDP_UNAVAILABLE", status: 503, challenge: undefined });
    } finally {
      idp.setDown(false);
    }
    // Back up: the same token now works (the failure was not cached).
    expect(await f.onRequest!(exchange("opaque", bearer(t.access_token)))).toBeUndefined();
    await f.close();
  });

  it("wrong introspection client secret → 503 (misconfiguration is never an allow)", async () => {
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      auth: authConfig({
        allowInsecureLoopback: true,
        issuers: [{ issuer: idp.issuer, introspection: { clientId: idp.clients.introspector.clientId, clientSecret: "wrong" } }],
      }),
    });
    const t = await idp.clientCredentials({ resource: RES, scope: "mcp:tools" });
    expect(summary(await f.onRequest!(exchange("opaque", bearer(t.access_token))))?.code).toBe("IDP_UNAVAILABLE");
    await f.close();
  });
});

describe("userinfo (OIDC Core §5.3)", () => {
  it("an opaque token accepted by userinfo yields the user's claims; a bad one is 401", async () => {
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      auth: authConfig({ allowInsecureLoopback: true, issuers: [{ issuer: idp.issuer, userinfo: { cacheSeconds: 30 } }] }),
    });
    const t = await idp.authorizationCode({ account: "bob", scope: "openid" });
    const ex = exchange("opaque", bearer(t.access_token));
    expect(await f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal).toMatchObject({ sub: "bob", groups: ["sales"], amr: ["pwd"] });
    expect(ex.vars.get(AUTHN_RESULT)).toMatchObject({ method: "userinfo" });
    expect(summary(await f.onRequest!(exchange("opaque", bearer("bogus-token"))))?.code).toBe("INVALID_TOKEN");
    idp.setDown(true);
    try {
      expect(summary(await f.onRequest!(exchange("opaque", bearer("another-token"))))?.code).toBe("IDP_UNAVAILABLE");
    } finally {
      idp.setDown(false);
    }
    await f.close();
  });
});
