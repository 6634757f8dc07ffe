// Decision-log records: OPA decision-log shape plus the gateway's facts, arguments only when
// configured and redacted, trace ids from _meta; shadow policy disagreements logged, never enforced.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import { type DecisionLogRecord, loggedInput } from "../../src/filters/authz/decision-log.ts";
import { createAuthzFilter } from "../../src/filters/authz/filter.ts";
import type { AuthzEngine, Decision } from "../../src/filters/authz/types.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { hashSessionId } from "../../src/log/message-facts.ts";
import { exchange, principal, request, response, tool, toolCall } from "./exchange.ts";
import { call } from "./inputs.ts";

let wasm: WasmEngine;
const quiet = { info() {}, warn() {}, error() {} };
beforeAll(async () => {
  wasm = await WasmEngine.create({ watch: false });
});
afterAll(async () => wasm.close());

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("decision log", () => {
  it("writes one OPA-shaped record per decision, without arguments or claims by default", async () => {
    const records: DecisionLogRecord[] = [];
    const authorizer = new Authorizer({
      engine: wasm,
      sink: (r) => records.push(r),
      logger: quiet,
      decisionLog: { labels: { region: "eu" } },
    });
    const filter = createAuthzFilter({ authorizer, now: () => new Date("2026-03-01T12:00:00.000Z") });
    const ex = exchange("github", principal(["developers"], ["mfa"]));
    await filter.onMessage!(ex, toolCall("create_pr", { title: "x", token: "ghp_secret" }, { traceparent: TRACEPARENT }));
    await filter.onMessage!(ex, toolCall("create_pr", { title: "x", token: "ghp_secret" }, { traceparent: TRACEPARENT }));
    expect(records).toHaveLength(2);
    const [r, cached] = records as [DecisionLogRecord, DecisionLogRecord];
    expect(r).toEqual({
      decision_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      path: "mcp/authz/decision",
      input: {
        subject: { sub: "alice", iss: "https://idp.test", client_id: "agent", groups: ["developers"], scopes: ["mcp"], amr: ["mfa"] },
        server: "github",
        method: "tools/call",
        target: "create_pr",
        action: "execute",
        request: {
          protocol_version: "2025-11-25",
          session: hashSessionId("sess-1"),
          client_address: "127.0.0.1",
          time: "2026-03-01T12:00:00.000Z",
        },
      },
      result: { allow: true, reason: "granted by developers" },
      erased: ["/input/subject/claims", "/input/arguments"],
      metrics: { timer_rego_query_eval_ns: expect.any(Number), timer_authz_decision_ns: expect.any(Number) },
      labels: { app: "mcp-gateway", engine: "wasm", region: "eu" },
      bundles: { authz: { revision: wasm.revision } },
      requested_by: "127.0.0.1",
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
      span_id: "00f067aa0ba902b7",
      subject: "alice",
      groups: ["developers"],
      server: "github",
      method: "tools/call",
      target: "create_pr",
      action: "execute",
      allow: true,
      reason: "granted by developers",
      revision: wasm.revision,
      engine: "wasm",
      cached: false,
    });
    expect(cached.cached).toBe(true);
    expect(cached.decision_id).not.toBe(r.decision_id);
    expect(JSON.stringify(records)).not.toContain("ghp_secret");
  });

  it("includes arguments when configured, with secret-looking keys and configured pointers masked", () => {
    const input = call(["admin"], ["mfa"], "servicenow", "create_incident", "write", {
      title: "disk full",
      password: "hunter2",
      nested: { apiKey: "k", list: [{ note: "private", Authorization: "Bearer x" }] },
      a: { "b/c": "slash key" },
    });
    const out = loggedInput(input, {
      enabled: true,
      includeArguments: true,
      includeClaims: true,
      redact: ["/input/arguments/nested/list/0/note", "/input/arguments/a/b~1c", "/input/arguments/absent"],
      redactKeys: /pass(word)?|api[-_]?key|authorization/i,
      labels: {},
    });
    expect(out.input.arguments).toEqual({
      title: "disk full",
      password: "[REDACTED]",
      nested: { apiKey: "[REDACTED]", list: [{ note: "[REDACTED]", Authorization: "[REDACTED]" }] },
      a: { "b/c": "[REDACTED]" },
    });
    expect(out.masked?.sort()).toEqual(
      [
        "/input/arguments/password",
        "/input/arguments/nested/apiKey",
        "/input/arguments/nested/list/0/Authorization",
        "/input/arguments/nested/list/0/note",
        "/input/arguments/a/b~1c",
      ].sort(),
    );
    expect(out.erased).toBeUndefined();
    expect((out.input.subject as { claims: unknown }).claims).toEqual({ email: "alice@example.test" });
    // The policy's own input is untouched.
    expect((input.arguments as { password: string }).password).toBe("hunter2");
  });

  it("logs list filters with the visible targets as result, one record per list", async () => {
    const records: DecisionLogRecord[] = [];
    const authorizer = new Authorizer({ engine: wasm, sink: (r) => records.push(r), logger: quiet });
    const filter = createAuthzFilter({ authorizer });
    const ex = exchange("catalyst-center", principal(["service-desk"]), { protocolVersion: "2026-07-28" });
    const req = request("tools/list");
    await filter.onUpstreamMessage!(ex, response(req.id, { tools: [tool("a", { readOnlyHint: true }), tool("b")] }), req);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      path: "mcp/authz/filter",
      result: ["a"],
      allow: true,
      reason: "1 of 2 items visible",
      method: "tools/list",
      input: {
        items: [
          { target: "a", action: "read" },
          { target: "b", action: "execute" },
        ],
        request: { session: null },
      },
    });
  });

  it("records engine failures with the error kind and no result", async () => {
    const records: DecisionLogRecord[] = [];
    const down: AuthzEngine = { ...stub({ allow: true, reason: "x" }), decide: () => Promise.reject(new Error("boom")) };
    const authorizer = new Authorizer({ engine: down, sink: (r) => records.push(r), logger: quiet });
    const out = await authorizer.decide(call(["admin"], ["mfa"], "github", "t", "read"));
    expect(out.decision.allow).toBe(false);
    expect(records[0]).toMatchObject({ allow: false, error: "unavailable", reason: "authorization engine unavailable: boom" });
    expect(records[0]).not.toHaveProperty("result");
  });
});

function stub(d: Decision, revision = "candidate-1", visible: string[] = []): AuthzEngine {
  return {
    kind: "wasm",
    revision,
    decide: async () => d,
    filter: async () => new Set(visible),
    onReload: () => () => {},
    close: async () => {},
  };
}

describe("shadow policy", () => {
  it("logs disagreements with the candidate and never enforces it", async () => {
    const records: DecisionLogRecord[] = [];
    const warnings: string[] = [];
    const authorizer = new Authorizer({
      engine: wasm,
      shadow: stub({ allow: true, reason: "candidate allows all" }, "candidate-1", ["list_devices", "update_site"]),
      sink: (r) => records.push(r),
      logger: { ...quiet, warn: (m) => warnings.push(m) },
    });
    const filter = createAuthzFilter({ authorizer });
    const ex = exchange("servicenow", principal(["developers"], ["mfa"]));
    const v = await filter.onMessage!(ex, toolCall("create_incident"));
    expect(v?.error.code).toBe("AUTHZ_DENIED"); // enforced policy wins
    // Agreement (admin allowed by both) is not logged as a disagreement.
    await filter.onMessage!(exchange("servicenow", principal(["admin"], ["mfa"])), toolCall("create_incident"));
    await new Promise((r) => setImmediate(r));
    const shadowRecords = records.filter((r) => r.labels.shadow === "true");
    expect(shadowRecords).toHaveLength(1);
    expect(shadowRecords[0]).toMatchObject({
      path: "mcp/authz/decision",
      allow: false,
      result: { allow: false },
      shadow: { revision: "candidate-1", result: { allow: true, reason: "candidate allows all" } },
    });
    expect(authorizer.stats.shadowDisagreements).toBe(1);
    expect(warnings).toHaveLength(1);

    // Lists: the shadow's different visible set is logged, the enforced one returned.
    const sd = exchange("catalyst-center", principal(["service-desk"], ["mfa"]));
    const req = request("tools/list");
    const out = await filter.onUpstreamMessage!(
      sd,
      response(req.id, { tools: [tool("list_devices", { readOnlyHint: true }), tool("update_site")] }),
      req,
    );
    expect((out!.raw.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(["list_devices"]);
    await new Promise((r) => setImmediate(r));
    const listShadow = records.filter((r) => r.labels.shadow === "true" && r.path === "mcp/authz/filter");
    expect(listShadow[0]).toMatchObject({ result: ["list_devices"], shadow: { result: ["list_devices", "update_site"] } });
  });

  it("a failing shadow changes nothing but is counted", async () => {
    const authorizer = new Authorizer({
      engine: wasm,
      shadow: { ...stub({ allow: false, reason: "x" }), decide: () => Promise.reject(new Error("shadow down")) },
      decisionLog: { enabled: false },
      logger: quiet,
    });
    const out = await authorizer.decide(call(["admin"], ["mfa"], "github", "t", "read"));
    expect(out.decision.allow).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(authorizer.stats.shadowErrors).toBe(1);
  });
});
