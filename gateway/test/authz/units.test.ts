// Small units of the authz stage: cache key, annotations → action, bundle reader, challenge header,
// and the config sub-schema.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BUNDLE_PATH } from "../../../policies/test/opa.ts";
import { authzSchema, serverAuthzSchema } from "../../src/config/schema-authz.ts";
import { Secret } from "../../src/config/secret.ts";
import { actionFromAnnotations } from "../../src/filters/authz/actions.ts";
import { readWasmBundle } from "../../src/filters/authz/bundle.ts";
import { decisionKey, filterKey, KEYED_MEMBERS, KEYED_REQUEST_MEMBERS } from "../../src/filters/authz/cache-key.ts";
import { stepUpChallenge } from "../../src/filters/authz/filter.ts";
import { toDecision } from "../../src/filters/authz/types.ts";
import { DEFAULT_BUNDLE_PATH } from "../../src/filters/authz/wasm-engine.ts";
import { call } from "./inputs.ts";

describe("cache key", () => {
  it("ignores request.time and includes everything else, arguments too", () => {
    const a = call(["x"], [], "s", "t", "read", { q: 1, r: 2 });
    const b = { ...a, request: { ...a.request, time: "2030-01-01T00:00:00Z" } };
    expect(decisionKey(b)).toBe(decisionKey(a));
    expect(decisionKey({ ...a, arguments: { q: 1, r: 3 } })).not.toBe(decisionKey(a));
    expect(decisionKey({ ...a, request: { ...a.request, session: "other" } })).not.toBe(decisionKey(a));
    expect(decisionKey({ ...a, subject: { ...a.subject!, amr: ["mfa"] } })).not.toBe(decisionKey(a));
    // Member order of arguments only costs a miss, never a wrong hit.
    expect(decisionKey({ ...a, arguments: { r: 2, q: 1 } })).not.toBe(decisionKey(a));
    expect(filterKey(a, [{ target: "t", action: "read" }])).not.toBe(filterKey(a, [{ target: "t", action: "write" }]));
  });

  it("changes with every member of the input the contract has (and of input.request but time)", () => {
    const a = call(["x"], [], "s", "t", "read", { q: 1 });
    const changed: Record<string, unknown> = {
      subject: { ...a.subject!, sub: "someone-else" },
      server: "other-server",
      method: "prompts/get",
      target: "other-target",
      action: "write",
      arguments: { q: 2 },
      request: { ...a.request, client_address: "10.9.9.9" },
    };
    for (const m of Object.keys(KEYED_MEMBERS)) {
      expect(changed[m], m).toBeDefined();
      expect(decisionKey({ ...a, [m]: changed[m] }), m).not.toBe(decisionKey(a));
    }
    for (const [m, keyed] of Object.entries(KEYED_REQUEST_MEMBERS)) {
      const b = { ...a, request: { ...a.request, [m]: `changed-${m}` } };
      if (keyed) expect(decisionKey(b), m).not.toBe(decisionKey(a));
      else expect(decisionKey(b), m).toBe(decisionKey(a));
    }
    // A missing target and a target "null" are different inputs.
    const { target: _t, ...noTarget } = a;
    expect(decisionKey(noTarget)).not.toBe(decisionKey({ ...a, target: "null" }));
    // The subject's JSON is memoised only for a frozen subject: a mutable one is serialised every time.
    const mutable = { ...a, subject: { ...a.subject!, groups: ["x"] } };
    const k1 = decisionKey(mutable);
    mutable.subject.groups = ["y"];
    expect(decisionKey(mutable)).not.toBe(k1);
  });
});

describe("actions from annotations", () => {
  it("maps readOnlyHint → read, destructiveHint → write, else execute; none → unknown", () => {
    expect(actionFromAnnotations({ readOnlyHint: true })).toBe("read");
    expect(actionFromAnnotations({ readOnlyHint: true, destructiveHint: true })).toBe("read");
    expect(actionFromAnnotations({ destructiveHint: true })).toBe("write");
    expect(actionFromAnnotations({ destructiveHint: false, idempotentHint: true })).toBe("execute");
    expect(actionFromAnnotations({})).toBe("execute");
    expect(actionFromAnnotations(undefined)).toBeUndefined();
  });
});

describe("bundle reader", () => {
  it("reads the committed bundle", () => {
    expect(DEFAULT_BUNDLE_PATH).toBe(BUNDLE_PATH);
    const b = readWasmBundle(readFileSync(BUNDLE_PATH));
    expect(b.revision).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(b.entrypoints).toEqual(["mcp/authz/decision", "mcp/authz/filter"]);
    expect(Buffer.from(b.wasm.subarray(0, 4)).toString("hex")).toBe("0061736d"); // \0asm
    expect((b.data as { mcp: { config: { roles: object } } }).mcp.config.roles).toHaveProperty("admin");
  });
});

describe("decisions", () => {
  it("refuses malformed decisions", () => {
    expect(toDecision({ allow: false, reason: "r", step_up: { acr_values: "mfa", max_age: 60 }, extra: 1 })).toMatchObject({ extra: 1 });
    for (const bad of [
      null,
      [],
      "x",
      { allow: 1, reason: "" },
      { allow: true },
      { allow: true, reason: "r", conditional: "y" },
      { allow: false, reason: "r", step_up: { max_age: -1 } },
    ]) {
      expect(() => toDecision(bad)).toThrow();
    }
  });

  it("builds the RFC 9470 challenge", () => {
    expect(stepUpChallenge({ acr_values: 'gold "x"', max_age: 300 })).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A multi-factor authentication is required", acr_values="gold \\"x\\"", max_age=300',
    );
  });
});

describe("config sub-schema", () => {
  it("defaults to the committed wasm bundle with a short cache and logs without arguments", () => {
    const c = authzSchema.parse({});
    expect(c.engine).toEqual({ type: "wasm", watch: true, debounceMs: 100 });
    expect(c.cache.ttlMs).toBe(2000);
    expect(c.decisionLog).toMatchObject({ enabled: true, includeArguments: false });
    expect(c.shadow).toBeUndefined();
  });

  it("parses a sidecar with a secret token and a shadow bundle", () => {
    const c = authzSchema.parse({
      engine: { type: "sidecar", url: "http://127.0.0.1:8181", token: "t0ken" },
      shadow: { type: "wasm", bundle: "/tmp/candidate.tar.gz" },
    });
    expect(c.engine.type === "sidecar" && c.engine.token).toBeInstanceOf(Secret);
    expect(JSON.stringify(c)).not.toContain("t0ken");
    expect(c.engine).toMatchObject({ timeoutMs: 500, connections: 8 });
  });

  it("rejects bad values with the field path", () => {
    const r = authzSchema.safeParse({ engine: { type: "sidecar", url: "ftp://x" }, decisionLog: { redact: ["/input/subject"] } });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join("."));
    expect(paths).toContain("engine.url");
    expect(paths).toContain("decisionLog.redact.0");
    expect(serverAuthzSchema.safeParse({ actions: { t: "delete" } }).success).toBe(false);
    expect(serverAuthzSchema.parse({})).toEqual({ actions: {}, defaultAction: "execute", trustAnnotations: true });
  });
});
