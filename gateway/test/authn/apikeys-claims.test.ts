// API keys (hashed, rotation, expiry, header), dev mode's loopback rule, and claims mapping for
// Keycloak-, Entra- and Okta-shaped tokens signed by the real provider's keys.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authSchema } from "../../src/config/schema-authn.ts";
import { AUTHN_RESULT, createAuthnFilter, generateApiKey, hashApiKey, prepareDevMode } from "../../src/filters/authn/index.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import { authConfig, BASE, bearer, exchange, summary } from "./helpers.ts";

describe("API keys", () => {
  const oldKey = generateApiKey().reveal();
  const newKey = generateApiKey().reveal();
  const retired = generateApiKey().reveal();
  const filter = createAuthnFilter({
    publicBaseUrl: BASE,
    auth: authConfig({
      apiKeyHeader: "X-API-Key",
      apiKeys: [
        { id: "ci-2024", sha256: hashApiKey(oldKey), subject: "svc-ci", groups: ["ci"], scopes: ["mcp:tools"] },
        { id: "ci-2025", sha256: hashApiKey(newKey).toUpperCase(), subject: "svc-ci", groups: ["ci"], scopes: ["mcp:tools"] },
        { id: "ci-2023", sha256: hashApiKey(retired), subject: "svc-ci", notAfter: "2024-01-01T00:00:00Z" },
      ],
      routes: { "no-keys": { apiKeys: false }, scoped: { requiredScopes: ["mcp:admin"] } },
    }),
  });
  afterAll(() => filter.close());

  it("both keys of a rotation are active and map to the same subject", async () => {
    for (const [key, id] of [
      [oldKey, "ci-2024"],
      [newKey, "ci-2025"],
    ] as const) {
      const ex = exchange("echo", bearer(key));
      expect(filter.onRequest!(ex)).toBeUndefined(); // synchronous: no I/O on the API key path
      expect(ex.principal).toMatchObject({
        sub: "svc-ci",
        iss: "urn:mcp-gateway:api-key",
        clientId: id,
        groups: ["ci"],
        scopes: ["mcp:tools"],
      });
      expect(ex.vars.get(AUTHN_RESULT)).toMatchObject({ method: "api-key", keyId: id });
    }
  });

  it("a key past notAfter, an unknown key → 401 invalid_token", () => {
    expect(summary(filter.onRequest!(exchange("echo", bearer(retired))) as never)?.challenge).toContain(
      'error_description="API key expired"',
    );
    expect(summary(filter.onRequest!(exchange("echo", bearer(generateApiKey().reveal()))) as never)?.code).toBe("INVALID_TOKEN");
  });

  it("the configured header works too; a route can refuse API keys; scopes still apply", () => {
    const ex = exchange("echo", { "x-api-key": newKey });
    expect(filter.onRequest!(ex)).toBeUndefined();
    expect(summary(filter.onRequest!(exchange("echo", { "x-api-key": "nope" })) as never)?.challenge).toContain("unknown API key");
    expect(summary(filter.onRequest!(exchange("no-keys", bearer(newKey))) as never)?.challenge).toContain("API keys are not accepted");
    expect(summary(filter.onRequest!(exchange("scoped", bearer(newKey))) as never)?.code).toBe("INSUFFICIENT_SCOPE");
  });

  it("a shared principal object cannot be altered by a later stage", () => {
    const ex = exchange("echo", bearer(newKey));
    filter.onRequest!(ex);
    expect(() => ex.principal!.groups.push("admins")).toThrow();
  });
});

describe("dev mode", () => {
  it("generates keys on loopback and refuses any other listener", async () => {
    const dev = prepareDevMode("127.0.0.1");
    expect(dev.plaintext[0]!.key.reveal()).toMatch(/^mgw_dev_[A-Za-z0-9_-]{43}$/);
    expect(String(dev.plaintext[0]!.key)).toBe("[REDACTED]");
    expect(dev.banner("http://127.0.0.1:8080")).toContain(dev.plaintext[0]!.key.reveal());
    const f = createAuthnFilter({ publicBaseUrl: "http://127.0.0.1:8080", auth: authConfig({ dev: true }), extraApiKeys: dev.keys });
    const ex = exchange("echo", bearer(dev.plaintext[0]!.key.reveal()));
    expect(f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal?.sub).toBe("developer");
    await f.close();
    for (const host of ["::1", "localhost", "[::1]"]) expect(() => prepareDevMode(host)).not.toThrow();
    for (const host of ["0.0.0.0", "::", "10.0.0.5", "gateway.example.com"]) expect(() => prepareDevMode(host)).toThrow(/local use only/);
  });

  it("dev-1 counts as MFA-verified, dev-2 does not; mfa: false turns it off", async () => {
    const dev = prepareDevMode("127.0.0.1", { groups: ["admin"] });
    expect(dev.plaintext.map((p) => [p.id, p.mfa])).toEqual([
      ["dev-1", true],
      ["dev-2", false],
    ]);
    expect(dev.banner("http://127.0.0.1:8080")).toMatch(/dev-1: mgw_dev_\S+ +\(counts as MFA-verified\)/);
    const f = createAuthnFilter({ publicBaseUrl: "http://127.0.0.1:8080", auth: authConfig({ dev: true }), extraApiKeys: dev.keys });
    const amrOf = (key: string) => {
      const ex = exchange("echo", bearer(key));
      expect(f.onRequest!(ex)).toBeUndefined();
      return ex.principal?.amr;
    };
    expect(amrOf(dev.plaintext[0]!.key.reveal())).toEqual(["mfa"]);
    expect(amrOf(dev.plaintext[1]!.key.reveal())).toEqual([]);
    await f.close();
    const off = prepareDevMode("127.0.0.1", { mfa: false });
    expect(off.plaintext.every((p) => !p.mfa)).toBe(true);
  });

  it("production default: a configured API key can never claim MFA", () => {
    const key = { id: "ci", sha256: hashApiKey(generateApiKey().reveal()), subject: "svc" };
    const r = authSchema.safeParse({ apiKeys: [{ ...key, amr: ["mfa"] }] });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/amr/);
    const f = createAuthnFilter({ publicBaseUrl: BASE, auth: authConfig({ apiKeys: [key] }) });
    const k2 = generateApiKey().reveal();
    const g = createAuthnFilter({ publicBaseUrl: BASE, auth: authConfig({ apiKeys: [{ ...key, sha256: hashApiKey(k2) }] }) });
    const ex = exchange("echo", bearer(k2));
    expect(g.onRequest!(ex)).toBeUndefined();
    expect(ex.principal?.amr).toEqual([]);
    return Promise.all([f.close(), g.close()]);
  });
});

describe("claims mapping per issuer", () => {
  let idp: Idp;
  const RES = `${BASE}/mcp/echo`;
  beforeAll(async () => {
    idp = await startIdp({ defaultAudience: RES });
  });
  afterAll(() => idp?.close());

  it("Keycloak: realm_access.roles + resource_access.<client>.roles, azp, acr/amr", async () => {
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      auth: authConfig({
        allowInsecureLoopback: true,
        issuers: [{ issuer: idp.issuer, claims: { groups: ["groups", "realm_access.roles", "resource_access.mcp-gateway.roles"] } }],
      }),
    });
    const token = await idp.mintToken({
      sub: "f3b1c2d4-0000-4000-8000-000000000001",
      scope: "openid profile mcp:tools",
      claims: {
        client_id: undefined,
        azp: "mcp-cli",
        typ: "Bearer",
        preferred_username: "alice",
        groups: ["/engineering"],
        realm_access: { roles: ["offline_access", "mcp-user"] },
        resource_access: { "mcp-gateway": { roles: ["tools-admin"] }, account: { roles: ["manage-account"] } },
        acr: "2",
        amr: ["pwd", "otp"],
      },
    });
    const ex = exchange("echo", bearer(token));
    expect(await f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal).toMatchObject({
      sub: "f3b1c2d4-0000-4000-8000-000000000001",
      clientId: "mcp-cli",
      groups: ["/engineering", "offline_access", "mcp-user", "tools-admin"],
      scopes: ["openid", "profile", "mcp:tools"],
      acr: "2",
      amr: ["pwd", "otp"],
    });
    expect(ex.principal!.claims.preferred_username).toBe("alice");
    await f.close();
  });

  it("Entra ID: roles + groups, scp (space-separated), azp/appid, tid as tenant, audience override", async () => {
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      auth: authConfig({
        allowInsecureLoopback: true,
        issuers: [
          {
            issuer: idp.issuer,
            audiences: ["api://mcp-gateway", "api://mcp-gateway/{server}"],
            claims: { subject: "oid", groups: ["roles", "groups"], tenant: "tid" },
          },
        ],
      }),
    });
    const user = await idp.mintToken({
      aud: "api://mcp-gateway",
      sub: "pairwise-sub-xyz",
      claims: {
        client_id: undefined,
        oid: "00000000-0000-0000-0000-0000000000aa",
        tid: "72f988bf-86f1-41af-91ab-2d7cd011db47",
        azp: "11111111-2222-3333-4444-555555555555",
        scp: "Tools.Read Tools.Write",
        roles: ["MCP.Admin"],
        groups: ["a1b2c3d4-aaaa-bbbb-cccc-000000000001"],
        amr: ["pwd", "mfa"],
        ver: "2.0",
      },
    });
    const ex = exchange("echo", bearer(user));
    expect(await f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal).toMatchObject({
      sub: "00000000-0000-0000-0000-0000000000aa",
      tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      clientId: "11111111-2222-3333-4444-555555555555",
      groups: ["MCP.Admin", "a1b2c3d4-aaaa-bbbb-cccc-000000000001"],
      scopes: ["Tools.Read", "Tools.Write"],
      amr: ["pwd", "mfa"],
    });
    // App-only (client credentials) v1 token: appid, roles, per-route audience through {server}.
    const app = await idp.mintToken({
      aud: "api://mcp-gateway/echo",
      claims: { client_id: undefined, oid: "svc-oid", appid: "app-123", roles: ["MCP.Tools"], tid: "t1" },
    });
    const ex2 = exchange("echo", bearer(app));
    expect(await f.onRequest!(ex2)).toBeUndefined();
    expect(ex2.principal).toMatchObject({ sub: "svc-oid", clientId: "app-123", groups: ["MCP.Tools"], scopes: [] });
    // The resource URL is not accepted once an override is configured; nor another route's audience.
    expect(summary(await f.onRequest!(exchange("echo", bearer(await idp.mintToken({ claims: { oid: "x" } })))))?.code).toBe(
      "INVALID_TOKEN",
    );
    expect(summary(await f.onRequest!(exchange("other", bearer(app))))?.code).toBe("INVALID_TOKEN");
    await f.close();
  });

  it("Okta: scp array, cid, groups claim", async () => {
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      auth: authConfig({ allowInsecureLoopback: true, issuers: [{ issuer: idp.issuer }] }),
    });
    const token = await idp.mintToken({
      claims: { client_id: undefined, cid: "0oa1b2c3", uid: "00u1", scp: ["mcp:tools", "offline_access"], groups: ["Everyone", "MCP"] },
    });
    const ex = exchange("echo", bearer(token));
    expect(await f.onRequest!(ex)).toBeUndefined();
    expect(ex.principal).toMatchObject({ clientId: "0oa1b2c3", scopes: ["mcp:tools", "offline_access"], groups: ["Everyone", "MCP"] });
    await f.close();
  });

  it("route restricted to some issuers refuses the others", async () => {
    const f = createAuthnFilter({
      publicBaseUrl: BASE,
      auth: authConfig({
        allowInsecureLoopback: true,
        issuers: [{ issuer: idp.issuer }, { issuer: "https://login.example.test/realms/x" }],
        routes: { locked: { issuers: ["https://login.example.test/realms/x"] } },
      }),
    });
    const v = await f.onRequest!(exchange("locked", bearer(await idp.mintToken({ aud: `${BASE}/mcp/locked` }))));
    expect(summary(v)?.challenge).toContain("token issuer is not accepted for this server");
    await f.close();
  });
});
