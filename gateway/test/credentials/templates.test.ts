// Per-user path templates: each caller gets its own path; crafted subjects cannot leave the prefix.
// Also checks the secret-scan helper itself, since every other credentials test relies on it.

import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/chain/types.ts";
import { Secret } from "../../src/config/secret.ts";
import { isSafeSegment, PathTemplate, ValueTemplate } from "../../src/filters/credentials/templates.ts";
import { assertNoSecrets, findSecrets } from "./secret-scan.ts";

function principal(sub: string, extra: Partial<Principal> = {}): Principal {
  return { sub, iss: "https://idp.test", groups: [], scopes: [], amr: [], claims: {}, ...extra };
}

describe("PathTemplate", () => {
  const t = new PathTemplate("users/{sub}/github");

  it("resolves per caller", () => {
    expect(t.perUser).toBe(true);
    expect(t.render(principal("alice"))).toEqual({ ok: true, path: "users/alice/github" });
    expect(t.render(principal("bob@example.com"))).toEqual({ ok: true, path: "users/bob@example.com/github" });
    expect(t.render(principal("auth0|123".replace("|", "-")))).toEqual({ ok: true, path: "users/auth0-123/github" });
  });

  it.each([
    "../admin",
    "..",
    ".",
    "a/b",
    "%2e%2e",
    "%2e%2e%2fadmin",
    "a..b",
    "a\\b",
    "a b",
    "a?x=1",
    "a#frag",
    "",
    "line\nbreak",
    "nul\u0000",
    "ünïcode",
    "x".repeat(129),
  ])("refuses the crafted subject %j", (sub) => {
    const r = t.render(principal(sub));
    expect(r).toEqual({ ok: false, field: "sub" });
  });

  it("refuses a missing principal or field", () => {
    expect(t.render(undefined)).toEqual({ ok: false, field: "sub" });
    const c = new PathTemplate("tenants/{tenant}/{claims.team}/token");
    expect(c.render(principal("a"))).toEqual({ ok: false, field: "tenant" });
    expect(c.render(principal("a", { tenant: "acme", claims: { team: 42 } }))).toEqual({ ok: false, field: "claims.team" });
    expect(c.render(principal("a", { tenant: "acme", claims: { team: "blue" } }))).toEqual({ ok: true, path: "tenants/acme/blue/token" });
  });

  it("a static path is not per-user", () => {
    const s = new PathTemplate("api/servicenow");
    expect(s.perUser).toBe(false);
    expect(s.render(undefined)).toEqual({ ok: true, path: "api/servicenow" });
  });

  it.each([
    ["users/{nope}/x", /unknown placeholder/],
    ["users/{iss}/x", /unknown placeholder/],
    ["users/{sub/x", /unbalanced/],
    ["../{sub}", /\. or \.\./],
    ["users/{sub}?v=1", /must not contain/],
  ])("rejects the template %j at load", (src, msg) => {
    expect(() => new PathTemplate(src)).toThrow(msg);
  });

  it("isSafeSegment", () => {
    expect(isSafeSegment("alice")).toBe(true);
    expect(isSafeSegment("a.b")).toBe(true);
    expect(isSafeSegment("a..b")).toBe(false);
  });
});

describe("ValueTemplate", () => {
  it("fills keys and reports the first missing one", () => {
    const t = new ValueTemplate("Bearer {token}");
    expect(t.keys).toEqual(["token"]);
    expect(t.render({ token: new Secret("abc") })).toEqual({ ok: true, value: "Bearer abc" });
    expect(t.render({})).toEqual({ ok: false, missing: "token" });
    expect(new ValueTemplate("static").render({})).toEqual({ ok: true, value: "static" });
    expect(() => new ValueTemplate("{bad key}")).toThrow(/bad placeholder/);
  });
});

describe("secret-scan helper", () => {
  const secret = "s3cr3t-P@ss-0123456789";
  it("finds verbatim, base64 (any alignment, as in Basic), URL-encoded and JSON-escaped forms", () => {
    for (const prefix of ["", "u:", "us:", "use:"]) {
      const basic = `Basic ${Buffer.from(`${prefix}${secret}`).toString("base64")}`;
      expect(findSecrets([secret], [basic])).toHaveLength(1);
    }
    expect(findSecrets([secret], [`x=${encodeURIComponent(secret)}`])).toHaveLength(1);
    expect(findSecrets([secret], [{ nested: { v: secret } }])).toHaveLength(1);
    expect(findSecrets([secret], [new Error("boom", { cause: new Error(`inner ${secret}`) })])).toHaveLength(1);
    expect(findSecrets(['quo"te-secret'], [JSON.stringify({ a: 'quo"te-secret' })])).toHaveLength(1);
  });
  it("passes clean output and never prints the secret in its own failure", () => {
    expect(() => assertNoSecrets([secret], ["nothing here", { a: new Secret(secret) }])).not.toThrow();
    try {
      assertNoSecrets([secret], [`leak ${secret}`]);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain(secret);
    }
  });
});
