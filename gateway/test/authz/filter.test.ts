// The authz filter on synthetic Exchanges: denied calls get the documented error (the same for an
// unknown and a forbidden tool), step-up gets the RFC 9470 challenge, and list results are cut to
// exactly what the same decision allows, in one cached batch evaluation per list.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Exchange } from "../../src/chain/types.ts";
import type { RpcMessage } from "../../src/codec/jsonrpc.ts";
import { ERRORS } from "../../src/errors.ts";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import type { DecisionLogRecord } from "../../src/filters/authz/decision-log.ts";
import { AUTHZ_OUTCOME, type AuthzFilter, createAuthzFilter } from "../../src/filters/authz/filter.ts";
import { type AuthzEngine, AuthzEngineError } from "../../src/filters/authz/types.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { exchange, principal, request, response, tool, toolCall } from "./exchange.ts";

let wasm: WasmEngine;
const quiet = { info() {}, warn() {}, error() {} };

beforeAll(async () => {
  wasm = await WasmEngine.create({ watch: false });
});
afterAll(async () => wasm.close());

/** Count engine calls without changing answers. */
function counting(engine: AuthzEngine) {
  const counts = { decide: 0, filter: 0 };
  const wrapped: AuthzEngine = {
    kind: engine.kind,
    get revision() {
      return engine.revision;
    },
    decide: (i) => {
      counts.decide++;
      return engine.decide(i);
    },
    filter: (b, items) => {
      counts.filter++;
      return engine.filter(b, items);
    },
    onReload: (l) => engine.onReload(l),
    close: async () => {},
  };
  return { counts, engine: wrapped };
}

function setup(opts: { servers?: Parameters<typeof createAuthzFilter>[0]["servers"]; engine?: AuthzEngine } = {}) {
  const records: DecisionLogRecord[] = [];
  const c = counting(opts.engine ?? wasm);
  const authorizer = new Authorizer({ engine: c.engine, sink: (r) => records.push(r), logger: quiet });
  const filter = createAuthzFilter({
    authorizer,
    ...(opts.servers ? { servers: opts.servers } : {}),
    resourceMetadataUrl: (ex) => `https://gw.test/.well-known/oauth-protected-resource/mcp/${ex.server}`,
  });
  return { filter, authorizer, records, counts: c.counts };
}

const CATALYST_TOOLS = [
  tool("list_devices", { readOnlyHint: true }),
  tool("get_site", { readOnlyHint: true, destructiveHint: true }),
  tool("update_site", { destructiveHint: true }),
  tool("deploy_template", {}),
  tool("run_command"),
  { description: "an unnamed entry is dropped" },
];

async function listThrough(
  filter: AuthzFilter,
  ex: Exchange,
  method: string,
  member: string,
  items: unknown[],
): Promise<RpcMessage | undefined> {
  const req = request(method);
  expect(await filter.onMessage!(ex, req)).toBeUndefined();
  return filter.onUpstreamMessage!(ex, response(req.id, { [member]: items, nextCursor: "c2" }), req);
}

function names(msg: RpcMessage | undefined, member = "tools", key = "name"): string[] {
  const r = msg?.raw.result as Record<string, Array<Record<string, string>>>;
  return r[member]!.map((t) => t[key]!);
}

describe("authz filter: calls", () => {
  it("allows a granted call and records the outcome on the exchange", async () => {
    const { filter } = setup();
    const ex = exchange("github", principal(["developers"], ["pwd", "mfa"]));
    expect(await filter.onMessage!(ex, toolCall("list_repos"))).toBeUndefined();
    const out = ex.vars.get(AUTHZ_OUTCOME) as { decision: { allow: boolean; reason: string }; cached: boolean };
    expect(out.decision).toEqual({ allow: true, reason: "granted by developers" });
    expect(out.cached).toBe(false);
  });

  it("denies with AUTHZ_DENIED (-32080, 403), identical for a forbidden and an unknown tool", async () => {
    const { filter } = setup();
    const ex = exchange("servicenow", principal(["developers"], ["pwd", "mfa"]));
    const forbidden = await filter.onMessage!(ex, toolCall("create_incident"));
    const unknown = await filter.onMessage!(ex, toolCall("no_such_tool_anywhere"));
    expect(forbidden?.error.code).toBe("AUTHZ_DENIED");
    expect(forbidden?.error.toRpcError()).toEqual({
      code: -32080,
      message: ERRORS.AUTHZ_DENIED.message,
      data: { gatewayCode: "AUTHZ_DENIED" },
    });
    expect(forbidden?.error.spec.http).toBe(403);
    expect(unknown?.error.toRpcError()).toEqual(forbidden?.error.toRpcError());
    expect(forbidden?.headers).toBeUndefined();
    // Nothing about the tool or the policy's reason reaches the client.
    expect(JSON.stringify(forbidden?.error.toRpcError())).not.toMatch(/create_incident|grant|servicenow/);
  });

  it("answers write/execute without MFA with the RFC 9470 step-up challenge (401)", async () => {
    const { filter } = setup({ servers: { "catalyst-center": { actions: { update_site: "write" } } } });
    const ex = exchange("catalyst-center", principal(["network-engineers"], ["pwd"]));
    const v = await filter.onMessage!(ex, toolCall("update_site", { site: "paris" }));
    expect(v?.error.code).toBe("MFA_REQUIRED");
    expect(v?.status).toBe(401);
    expect(v?.headers?.["www-authenticate"]).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A multi-factor authentication is required", acr_values="mfa", resource_metadata="https://gw.test/.well-known/oauth-protected-resource/mcp/catalyst-center"',
    );
    // With MFA the same call is allowed.
    const ok = await filter.onMessage!(
      exchange("catalyst-center", principal(["network-engineers"], ["pwd", "mfa"])),
      toolCall("update_site", { site: "paris" }),
    );
    expect(ok).toBeUndefined();
  });

  it("applies the argument rule to deploy_template", async () => {
    const { filter } = setup();
    const ex = exchange("catalyst-center", principal(["network-engineers", "site:paris"], ["mfa"]));
    expect(await filter.onMessage!(ex, toolCall("deploy_template", { template: "t1", site: "paris" }))).toBeUndefined();
    expect((await filter.onMessage!(ex, toolCall("deploy_template", { template: "t1", site: "berlin" })))?.error.code).toBe("AUTHZ_DENIED");
    expect((await filter.onMessage!(ex, toolCall("deploy_template", { template: "t1" })))?.error.code).toBe("AUTHZ_DENIED");
  });

  it("denies without a principal, decides protocol methods, and lets client responses through", async () => {
    const { filter } = setup();
    expect((await filter.onMessage!(exchange("github", undefined), request("ping")))?.error.code).toBe("AUTHZ_DENIED");
    const ex = exchange("github", principal(["developers"]));
    for (const m of ["initialize", "ping", "notifications/initialized", "logging/setLevel"])
      expect(await filter.onMessage!(ex, request(m))).toBeUndefined();
    expect((await filter.onMessage!(ex, request("sampling/createMessage")))?.error.code).toBe("AUTHZ_DENIED");
    expect(await filter.onMessage!(ex, response(99, {}))).toBeUndefined();
    // A subject without any grant on the server cannot even initialize.
    expect((await filter.onMessage!(exchange("servicenow", principal(["developers"])), request("initialize")))?.error.code).toBe(
      "AUTHZ_DENIED",
    );
  });

  it("works for 2026-07-28 requests (no session)", async () => {
    const { filter, records } = setup();
    const ex = exchange("github", principal(["developers"], ["mfa"]), { protocolVersion: "2026-07-28" });
    expect(ex.sessionId).toBeUndefined();
    expect(
      await filter.onMessage!(ex, toolCall("create_pr", {}, { "io.modelcontextprotocol/protocolVersion": "2026-07-28" })),
    ).toBeUndefined();
    const req = (records.at(-1)!.input as { request: Record<string, unknown> }).request;
    expect(req.session).toBeNull();
    expect(req.protocol_version).toBe("2026-07-28");
  });

  it("maps an engine failure to AUTHZ_UNAVAILABLE (503)", async () => {
    const broken: AuthzEngine = {
      kind: "sidecar",
      revision: "x",
      decide: () => Promise.reject(new AuthzEngineError("unavailable", "down")),
      filter: () => Promise.reject(new AuthzEngineError("timeout", "slow")),
      onReload: () => () => {},
      close: async () => {},
    };
    const { filter } = setup({ engine: broken });
    const ex = exchange("github", principal(["admin"], ["mfa"]));
    const v = await filter.onMessage!(ex, toolCall("x"));
    expect(v?.error.code).toBe("AUTHZ_UNAVAILABLE");
    expect(v?.error.toRpcError().code).toBe(-32088);
    // A list cannot be filtered: the response is replaced by the error, never passed unfiltered.
    const req = request("tools/list");
    const out = await filter.onUpstreamMessage!(ex, response(req.id, { tools: [tool("a")] }), req);
    expect(out?.raw).toEqual({ jsonrpc: "2.0", id: req.id, error: expect.objectContaining({ code: -32088 }) });
  });
});

describe("authz filter: lists", () => {
  it("cuts tools/list to exactly the set whose calls are allowed (service-desk, read-only on catalyst-center)", async () => {
    const { filter } = setup();
    const ex = exchange("catalyst-center", principal(["service-desk"], ["pwd", "mfa"]));
    const out = await listThrough(filter, ex, "tools/list", "tools", CATALYST_TOOLS);
    expect(names(out).sort()).toEqual(["get_site", "list_devices"]);
    expect((out!.raw.result as { nextCursor: string }).nextCursor).toBe("c2");
    // Invariant 3: every listed tool is callable, every hidden one is denied.
    for (const t of ["list_devices", "get_site", "update_site", "deploy_template", "run_command"]) {
      const v = await filter.onMessage!(ex, toolCall(t, { site: "paris" }));
      expect(v === undefined, t).toBe(names(out).includes(t));
    }
  });

  it("keeps tools whose call would only need MFA or other arguments visible", async () => {
    const { filter } = setup();
    const ex = exchange("catalyst-center", principal(["network-engineers"], ["pwd"]));
    const out = await listThrough(filter, ex, "tools/list", "tools", CATALYST_TOOLS);
    expect(names(out).sort()).toEqual(["deploy_template", "get_site", "list_devices", "run_command", "update_site"]);
  });

  it("hides everything from a subject without a grant (the list request itself is denied)", async () => {
    const { filter } = setup();
    const ex = exchange("catalyst-center", principal(["developers"], ["mfa"]));
    const req = request("tools/list");
    expect((await filter.onMessage!(ex, req))?.error.code).toBe("AUTHZ_DENIED");
    const out = await filter.onUpstreamMessage!(ex, response(req.id, { tools: CATALYST_TOOLS }), req);
    expect(names(out)).toEqual([]);
  });

  it("learns actions from annotations in tools/list; config wins; unknown tools default to execute", async () => {
    const { filter } = setup({ servers: { "catalyst-center": { actions: { sync_inventory: "read" } } } });
    const ex = exchange("catalyst-center", principal(["service-desk"], ["pwd"]));
    // Before any tools/list, list_devices's annotations are unknown: execute → denied for service-desk.
    expect((await filter.onMessage!(ex, toolCall("list_devices")))?.error.code).toBe("AUTHZ_DENIED");
    // Configured action wins regardless.
    expect(await filter.onMessage!(ex, toolCall("sync_inventory"))).toBeUndefined();
    await listThrough(filter, ex, "tools/list", "tools", CATALYST_TOOLS);
    expect(filter.actions.resolve("catalyst-center", "list_devices")).toBe("read");
    expect(filter.actions.resolve("catalyst-center", "update_site")).toBe("write");
    expect(filter.actions.resolve("catalyst-center", "deploy_template")).toBe("execute");
    expect(filter.actions.resolve("catalyst-center", "run_command")).toBe("execute");
    expect(filter.actions.resolve("catalyst-center", "sync_inventory")).toBe("read");
    expect(await filter.onMessage!(ex, toolCall("list_devices"))).toBeUndefined();
  });

  it("ignores annotations when trustAnnotations is false", async () => {
    const { filter } = setup({ servers: { "catalyst-center": { trustAnnotations: false, defaultAction: "write" } } });
    const ex = exchange("catalyst-center", principal(["service-desk"], ["mfa"]));
    const out = await listThrough(filter, ex, "tools/list", "tools", CATALYST_TOOLS);
    expect(names(out)).toEqual([]);
  });

  it("filters prompts/list, resources/list and resources/templates/list", async () => {
    const { filter } = setup();
    const dev = exchange("github", principal(["developers"]));
    const prompts = await listThrough(filter, dev, "prompts/list", "prompts", [{ name: "review" }, { name: "triage" }]);
    expect(names(prompts, "prompts")).toEqual(["review", "triage"]);
    const res = await listThrough(filter, dev, "resources/list", "resources", [{ uri: "repo://a", name: "a" }]);
    expect(names(res, "resources", "uri")).toEqual(["repo://a"]);
    const tpl = await listThrough(filter, dev, "resources/templates/list", "resourceTemplates", [{ uriTemplate: "repo://{x}", name: "x" }]);
    expect(names(tpl, "resourceTemplates", "uriTemplate")).toEqual(["repo://{x}"]);
    // Items of another server's subject are removed; the message object is a changed copy.
    const sd = exchange("github", principal(["service-desk"]));
    const req = request("prompts/list");
    const original = response(req.id, { prompts: [{ name: "review" }] });
    const cut = await filter.onUpstreamMessage!(sd, original, req);
    expect(names(cut, "prompts")).toEqual([]);
    expect(names(original, "prompts")).toEqual(["review"]);
  });

  it("evaluates one batch per list and caches it", async () => {
    const { filter, counts } = setup();
    const ex = exchange("catalyst-center", principal(["service-desk"], ["mfa"]));
    const tools = Array.from({ length: 50 }, (_, i) => tool(`t${i}`, i % 2 ? { readOnlyHint: true } : undefined));
    const req = request("tools/list");
    const a = await filter.onUpstreamMessage!(ex, response(req.id, { tools }), req);
    expect(counts.filter).toBe(1);
    expect(names(a)).toHaveLength(25);
    const b = await filter.onUpstreamMessage!(ex, response(req.id, { tools }), req);
    expect(counts.filter).toBe(1); // cached
    expect(names(b)).toEqual(names(a));
  });

  it("passes through non-list responses, error responses and server→client messages untouched", async () => {
    const { filter } = setup();
    const ex = exchange("github", principal(["developers"]));
    const call = toolCall("x");
    const r = response(call.id, { content: [] });
    expect(await filter.onUpstreamMessage!(ex, r, call)).toBe(r);
    const list = request("tools/list");
    const err = { ...r, raw: { jsonrpc: "2.0", id: list.id, error: { code: -1, message: "x" } } } as RpcMessage;
    expect(await filter.onUpstreamMessage!(ex, err, list)).toBe(err);
    const note = request("notifications/tools/list_changed");
    expect(await filter.onUpstreamMessage!(ex, note, undefined)).toBe(note);
  });
});
