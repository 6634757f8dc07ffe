// Protected resource metadata (RFC 9728) documents and paths, challenge syntax, session binding,
// the SSRF guard on IdP URLs, and config validation of the auth block.

import { describe, expect, it } from "vitest";
import { authSchema } from "../../src/config/schema-authn.ts";
import {
  addressRefusal,
  assertFetchableUrl,
  bearerChallenge,
  createAuthnFilter,
  handleProtectedResourceMetadata,
  matchPrmPath,
  prmPath,
  prmUrl,
  protectedResourceMetadata,
  resourceUrl,
} from "../../src/filters/authn/index.ts";
import { sessionBelongsTo } from "../../src/session/session-stage.ts";
import { authConfig, BASE } from "./helpers.ts";

const auth = authConfig({
  issuers: [{ issuer: "https://idp.example.test/realms/mcp" }, { issuer: "https://hidden.example.test", advertise: false }],
  scopesSupported: ["mcp:tools"],
  routes: { servicenow: { requiredScopes: ["mcp:write"] } },
  resourceDocumentation: "https://docs.example.test/mcp",
});

describe("protected resource metadata (RFC 9728)", () => {
  it("per route", () => {
    expect(protectedResourceMetadata(auth, BASE, "servicenow")).toEqual({
      resource: `${BASE}/mcp/servicenow`,
      authorization_servers: ["https://idp.example.test/realms/mcp"],
      scopes_supported: ["mcp:write", "mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "servicenow",
      resource_documentation: "https://docs.example.test/mcp",
    });
  });

  it("root form", () => {
    expect(protectedResourceMetadata(auth, `${BASE}/`)).toEqual({
      resource: BASE,
      authorization_servers: ["https://idp.example.test/realms/mcp"],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_documentation: "https://docs.example.test/mcp",
    });
  });

  it("URLs and paths, including a base URL with a path (§3.1: well-known goes after the host)", () => {
    expect(resourceUrl(BASE, "a b")).toBe(`${BASE}/mcp/a%20b`);
    expect(prmUrl(BASE, "echo")).toBe(`${BASE}/.well-known/oauth-protected-resource/mcp/echo`);
    expect(prmUrl("https://x.test/gw/", "echo")).toBe("https://x.test/.well-known/oauth-protected-resource/gw/mcp/echo");
    expect(prmPath("https://x.test/gw", "echo")).toBe("/.well-known/oauth-protected-resource/gw/mcp/echo");
    expect(matchPrmPath("/.well-known/oauth-protected-resource/mcp/echo")).toEqual({ route: "echo" });
    expect(matchPrmPath("/.well-known/oauth-protected-resource")).toEqual({ route: undefined });
    expect(matchPrmPath("/.well-known/oauth-protected-resource/gw/mcp/echo", "https://x.test/gw")).toEqual({ route: "echo" });
    expect(matchPrmPath("/.well-known/oauth-protected-resource/other")).toBeUndefined();
    expect(matchPrmPath("/mcp/echo")).toBeUndefined();
  });

  it("request handler: 200 JSON with CORS, 404 unknown route, 405 other methods, undefined when not ours", () => {
    const o = { auth, publicBaseUrl: BASE, routes: new Set(["servicenow"]) };
    const ok = handleProtectedResourceMetadata("GET", "/.well-known/oauth-protected-resource/mcp/servicenow", o)!;
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe("application/json");
    expect(ok.headers["access-control-allow-origin"]).toBe("*");
    expect(JSON.parse(ok.body).resource).toBe(`${BASE}/mcp/servicenow`);
    expect(handleProtectedResourceMetadata("GET", "/.well-known/oauth-protected-resource/mcp/nope", o)?.status).toBe(404);
    expect(handleProtectedResourceMetadata("POST", "/.well-known/oauth-protected-resource", o)?.status).toBe(405);
    expect(handleProtectedResourceMetadata("GET", "/.well-known/oauth-protected-resource", o)?.status).toBe(200);
    expect(handleProtectedResourceMetadata("GET", "/mcp/servicenow", o)).toBeUndefined();
  });
});

describe("challenges", () => {
  it("quotes values and strips characters RFC 6750 forbids", () => {
    expect(bearerChallenge({ resourceMetadata: "https://x/.well-known/oauth-protected-resource/mcp/a" })).toBe(
      'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp/a"',
    );
    expect(bearerChallenge({ error: "invalid_token", errorDescription: 'bad "quote" \\ é', resourceMetadata: "u" })).toBe(
      'Bearer error="invalid_token", error_description="bad quote  ", resource_metadata="u"',
    );
  });
});

describe("session binding (the session stage's one rule)", () => {
  const p = { sub: "alice", iss: "https://idp", groups: [], scopes: [], amr: [], claims: {} };
  it("same sub+iss only", () => {
    expect(sessionBelongsTo(p, { sub: "alice", iss: "https://idp" })).toBe(true);
    expect(sessionBelongsTo(p, { sub: "bob", iss: "https://idp" })).toBe(false);
    expect(sessionBelongsTo(p, { sub: "alice", iss: "https://other" })).toBe(false);
    expect(sessionBelongsTo(p, {})).toBe(false);
    expect(sessionBelongsTo(undefined, {})).toBe(true);
    expect(sessionBelongsTo(undefined, { sub: "alice", iss: "https://idp" })).toBe(false);
  });
});

describe("SSRF guard", () => {
  const strict = { allowInsecureLoopback: false, allowPrivateNetworks: false, timeoutMs: 1000 };
  const loop = { ...strict, allowInsecureLoopback: true };
  it("https only, http only on loopback when allowed", () => {
    expect(() => assertFetchableUrl("http://idp.example.test/jwks", loop)).toThrow(/https/);
    expect(() => assertFetchableUrl("http://127.0.0.1:8080/jwks", strict)).toThrow(/https/);
    expect(assertFetchableUrl("http://127.0.0.1:8080/jwks", loop).port).toBe("8080");
    expect(() => assertFetchableUrl("https://user:pw@idp.example.test/", strict)).toThrow(/credentials/);
    expect(() => assertFetchableUrl("file:///etc/passwd", strict)).toThrow(/https/);
  });
  it("private, link-local and metadata addresses refused unless allowed", () => {
    for (const a of ["169.254.169.254", "10.1.2.3", "192.168.0.1", "172.20.0.1", "fd00::1", "fe80::1", "::ffff:10.0.0.1", "127.0.0.1"]) {
      expect(addressRefusal(a, strict), a).toBeDefined();
    }
    expect(addressRefusal("10.1.2.3", { ...strict, allowPrivateNetworks: true })).toBeUndefined();
    expect(addressRefusal("93.184.216.34", strict)).toBeUndefined();
    expect(() => assertFetchableUrl("https://169.254.169.254/latest", strict)).toThrow(/private or link-local/);
  });
  it("the filter refuses such issuer URLs at construction", () => {
    expect(() =>
      createAuthnFilter({ publicBaseUrl: BASE, auth: authConfig({ issuers: [{ issuer: "https://10.0.0.8/realms/x" }] }) }),
    ).toThrow(/private/);
  });
});

describe("auth config schema", () => {
  it("refuses http issuers off loopback, HS algorithms without a secret, duplicate key ids; reports the path", () => {
    const r = authSchema.safeParse({
      allowInsecureLoopback: true,
      issuers: [{ issuer: "http://idp.example.test" }, { issuer: "https://ok.example.test", algorithms: ["HS256"] }],
      apiKeys: [
        { id: "a", sha256: "0".repeat(64), subject: "s" },
        { id: "a", sha256: "1".repeat(64), subject: "s" },
      ],
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["issuers.0.issuer", "issuers.1.algorithms", "apiKeys.1.id"]));
  });
  it("keeps the introspection secret as a Secret", () => {
    const a = authSchema.parse({ issuers: [{ issuer: "https://idp.test", introspection: { clientId: "gw", clientSecret: "s3cr3t" } }] });
    expect(JSON.stringify(a)).not.toContain("s3cr3t");
    expect(a.issuers[0]!.introspection!.clientSecret.reveal()).toBe("s3cr3t");
    expect(a.issuers[0]!.algorithms).not.toContain("HS256");
  });
});
