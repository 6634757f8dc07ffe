// Acceptance (issue 4): the default policy, from the committed wasm bundle, through a gateway started
// from YAML config exactly as a user runs it, with real JWT access tokens from a real OpenID provider
// for every reference group, with and without MFA, in front of the four reference routes. Then the
// same through the OPA sidecar engine with a real `opa run --server` that is killed and restarted.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpaServer, startOpa } from "../../../policies/test/opa.ts";
import { ERRORS } from "../../src/errors.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import {
  type Action,
  account,
  type Backend,
  GROUPS,
  type Group,
  idpAccounts,
  issuerYaml,
  messages,
  openSession,
  post,
  ROUTE_TOOLS,
  ROUTES,
  type StartedGateway,
  startBackend,
  startFromYaml,
  userToken,
} from "./fixtures.ts";

const SESSION_KEY = "acceptance-policy-matrix-session-key-0123456789";
/** AUTHZ_DENIED as the SDK client reports it: the fixed message, no reason, no tool name (docs/errors.md). */
const DENIED = { code: ERRORS.AUTHZ_DENIED.rpc, message: `MCP error ${ERRORS.AUTHZ_DENIED.rpc}: ${ERRORS.AUTHZ_DENIED.message}` };

/** What the default policy (policies/rego/data.json) grants a group on a route. */
function grant(g: Group, route: string): "none" | "read" | "all" {
  if (g === "admin") return "all";
  if (g === "network-engineers") return route === "catalyst-center" ? "all" : "none";
  if (g === "service-desk") return route === "servicenow" ? "all" : route === "catalyst-center" ? "read" : "none";
  if (g === "developers") return route === "github" || route === "rest-bridge" ? "all" : "none";
  return "none";
}

function visibleTools(g: Group, route: string): string[] {
  const level = grant(g, route);
  return (ROUTE_TOOLS[route] ?? []).filter((t) => level === "all" || (level === "read" && t.action === "read")).map((t) => t.name);
}

/** Arguments that satisfy the site rule for network engineers (site:paris) and admins (every site). */
const argsFor = (tool: string) => (tool === "deploy_template" ? { template: "branch-v2", site: "paris" } : { text: "x" });

const backends: Record<string, Backend> = {};
let idp: Idp;
let gw: StartedGateway;
const tokens = new Map<string, string>();

function yamlFor(engine: string, opts: { cacheTtlMs?: number; auditPath?: string } = {}): string {
  return `
listen: { host: 127.0.0.1, port: 0 }
sessions:
  key: \${env:SESSION_KEY}
logging: { level: info }
auth:${issuerYaml(idp)}
authz:
  engine: ${engine}
  cache: { ttlMs: ${opts.cacheTtlMs ?? 2000} }
  decisionLog: { enabled: false }
telemetry:
  audit: ${opts.auditPath ? `{ sink: file, path: "${opts.auditPath}" }` : "{ enabled: false }"}
servers:
${ROUTES.map((r) => `  ${r}:\n    url: ${backends[r]!.url}`).join("\n")}
`;
}

beforeAll(async () => {
  const started = await Promise.all([startIdp({ accounts: idpAccounts() }), ...ROUTES.map((r) => startBackend(r))]);
  idp = started[0] as Idp;
  for (const b of started.slice(1) as Backend[]) backends[b.route] = b;
  gw = await startFromYaml(yamlFor("{ type: wasm, watch: false }"), { baseDir: process.cwd(), env: { SESSION_KEY } });
  // One real token per account (authorization code + PKCE), audience = this gateway.
  await Promise.all(
    GROUPS.flatMap((g) => [true, false].map(async (mfa) => tokens.set(account(g, mfa), await userToken(idp, account(g, mfa), gw.url)))),
  );
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(Object.values(backends).map((b) => b.close()));
  await idp?.close();
});

const bearer = (acct: string) => ({ authorization: `Bearer ${tokens.get(acct)}` });

function authFetch(acct: string): typeof fetch {
  return (input, init) => {
    const h = new Headers(init?.headers);
    h.set("authorization", `Bearer ${tokens.get(acct)}`);
    return fetch(input, { ...init, headers: h });
  };
}

type Era = "2024-11-05" | "2025-06-18" | "2026-07-28";

interface AnyClient {
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  listPrompts(): Promise<{ prompts: Array<{ name: string }> }>;
  listResources(): Promise<{ resources: Array<{ uri: string }> }>;
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

async function connect(base: string, route: string, acct: string, era: Era): Promise<AnyClient> {
  const f = authFetch(acct);
  if (era === "2026-07-28") {
    const c = new ModernClient({ name: "acceptance", version: "1" }, { versionNegotiation: { mode: { pin: era } } });
    await c.connect(new ModernTransport(new URL(`${base}/mcp/${route}`), { fetch: f }));
    return c as unknown as AnyClient;
  }
  const c = new Client({ name: "acceptance", version: "1" });
  await c.connect(
    era === "2024-11-05"
      ? new SSEClientTransport(new URL(`${base}/mcp/${route}/sse`), { fetch: f, eventSourceInit: { fetch: f } })
      : new StreamableHTTPClientTransport(new URL(`${base}/mcp/${route}`), { fetch: f }),
  );
  return c;
}

async function callError(c: AnyClient, name: string, args: Record<string, unknown>): Promise<{ code: number; message: string }> {
  let r: unknown;
  try {
    r = await c.callTool({ name, arguments: args });
  } catch (e) {
    return { code: (e as McpError).code, message: (e as McpError).message };
  }
  throw new Error(`expected ${name} to be refused, got ${JSON.stringify(r)}`);
}

describe("default policy × groups × routes (wasm engine, Streamable HTTP 2025-06-18)", () => {
  for (const g of GROUPS) {
    for (const mfa of [true, false]) {
      const acct = account(g, mfa);
      it(`${acct}: lists show exactly the allowed set; allowed calls run, the rest is refused`, async () => {
        for (const route of ROUTES) {
          const level = grant(g, route);
          const url = `${gw.url}/mcp/${route}`;
          if (level === "none") {
            // No grant on the server: not even initialize (rule 2), with the documented error.
            await expect(connect(gw.url, route, acct, "2025-06-18")).rejects.toThrow();
            const r = await post(
              url,
              {
                jsonrpc: "2.0",
                id: 1,
                method: "initialize",
                params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
              },
              bearer(acct),
            );
            const { msgs, text } = await messages(r);
            expect(r.headers.get("mcp-session-id")).toBeNull();
            expect(msgs[0]?.error, text).toMatchObject({ code: -32080, data: { gatewayCode: "AUTHZ_DENIED" } });
            continue;
          }
          const c = await connect(gw.url, route, acct, "2025-06-18");
          try {
            const expected = visibleTools(g, route);
            expect((await c.listTools()).tools.map((t) => t.name).sort()).toEqual([...expected].sort());
            expect((await c.listPrompts()).prompts.map((p) => p.name)).toEqual([`${route}_summary`]);
            expect((await c.listResources()).resources.map((x) => x.uri)).toEqual([`${route}://readme`]);

            if (level === "read") {
              // Partly granted: an unknown tool (action execute by default) and a forbidden one get the
              // identical reply, so the reply does not reveal whether a tool exists.
              expect(await callError(c, "no_such_tool", { text: "x" })).toEqual(DENIED);
            } else {
              // Fully granted: nothing is forbidden, so the unknown tool is the backend's to refuse (with
              // MFA), or the step-up challenge (without: its action defaults to execute).
              const e = await callError(c, "no_such_tool", { text: "x" });
              expect(e.code).toBe(mfa ? -32602 : 401);
            }
            for (const t of ROUTE_TOOLS[route]!) {
              const before = backends[route]!.calls.length;
              if (!expected.includes(t.name)) {
                // Forbidden and unknown are indistinguishable (docs/authorization.md, AUTHZ_DENIED).
                expect(await callError(c, t.name, argsFor(t.name))).toEqual(DENIED);
                expect(backends[route]!.calls.length).toBe(before);
              } else if (t.action === "read" || mfa) {
                const r = (await c.callTool({ name: t.name, arguments: argsFor(t.name) })) as { content: unknown };
                expect(r.content).toEqual([{ type: "text", text: `${route}:${t.name} ok` }]);
                expect(backends[route]!.calls.length).toBe(before + 1);
              }
              // Listed write/execute without MFA: the step-up test below.
            }
          } finally {
            await c.close();
          }
        }
      });
    }
  }

  it("write/execute without MFA → 401 with the RFC 9470 step-up challenge; the backend never sees the call", async () => {
    const cases: Array<[Group, string, string, Action]> = [];
    for (const g of GROUPS)
      for (const route of ROUTES)
        for (const t of ROUTE_TOOLS[route]!)
          if (t.action !== "read" && visibleTools(g, route).includes(t.name)) cases.push([g, route, t.name, t.action]);
    expect(cases.length).toBeGreaterThan(10);
    const sessions = new Map<string, string>();
    for (const [g, route, tool] of cases) {
      const url = `${gw.url}/mcp/${route}`;
      const h = bearer(account(g, false));
      const key = `${g}/${route}`;
      if (!sessions.has(key)) sessions.set(key, await openSession(url, h));
      const sh = { ...h, "mcp-session-id": sessions.get(key)!, "mcp-protocol-version": "2025-06-18" };
      const before = backends[route]!.calls.length;
      const r = await post(url, { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: tool, arguments: argsFor(tool) } }, sh);
      const { text } = await messages(r);
      expect(r.status, `${key} ${tool}: ${text}`).toBe(401);
      const challenge = r.headers.get("www-authenticate") ?? "";
      expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
      expect(challenge).toContain('acr_values="mfa"');
      expect(challenge).toContain(`resource_metadata="${gw.url}/.well-known/oauth-protected-resource/mcp/${route}"`);
      expect(backends[route]!.calls.length).toBe(before);
    }
  });

  it("the argument rule: network engineers deploy only to their sites; admins anywhere; a call naming no site is refused", async () => {
    const ne = await connect(gw.url, "catalyst-center", account("network-engineers", true), "2025-06-18");
    const admin = await connect(gw.url, "catalyst-center", account("admin", true), "2025-06-18");
    try {
      await ne.listTools();
      expect(await callError(ne, "deploy_template", { template: "t", site: "berlin" })).toEqual(DENIED);
      expect(await callError(ne, "deploy_template", { template: "t" })).toEqual(DENIED);
      expect(await ne.callTool({ name: "deploy_template", arguments: { template: "t", site: "paris" } })).toMatchObject({
        content: [{ text: "catalyst-center:deploy_template ok" }],
      });
      expect(await admin.callTool({ name: "deploy_template", arguments: { template: "t", site: "berlin" } })).toMatchObject({
        content: [{ text: "catalyst-center:deploy_template ok" }],
      });
    } finally {
      await Promise.all([ne.close(), admin.close()]);
    }
  });
});

describe("a denied tool never appears in any list, in any era", () => {
  const eras: Era[] = ["2024-11-05", "2025-06-18", "2026-07-28"];
  for (const era of eras) {
    it(`${era}: every group with access sees exactly its allowed tools, prompts and resources; denied calls refused`, async () => {
      for (const g of GROUPS) {
        for (const route of ROUTES) {
          if (grant(g, route) === "none") {
            // 2026-07-28 has no initialize: the first request is what gets refused.
            const refused = await connect(gw.url, route, account(g, true), era)
              .then(async (c) => {
                try {
                  await c.listTools();
                  return false;
                } catch {
                  return true;
                } finally {
                  await c.close();
                }
              })
              .catch(() => true);
            expect(refused, `${era} ${g} ${route}`).toBe(true);
            continue;
          }
          const c = await connect(gw.url, route, account(g, true), era);
          try {
            const expected = visibleTools(g, route);
            expect((await c.listTools()).tools.map((t) => t.name).sort(), `${era} ${g} ${route}`).toEqual([...expected].sort());
            expect((await c.listPrompts()).prompts.map((p) => p.name)).toEqual([`${route}_summary`]);
            expect((await c.listResources()).resources.map((x) => x.uri)).toEqual([`${route}://readme`]);
            for (const t of ROUTE_TOOLS[route]!.filter((x) => !expected.includes(x.name))) {
              expect((await callError(c, t.name, argsFor(t.name))).code).toBe(-32080);
            }
          } finally {
            await c.close();
          }
        }
      }
    });
  }
});

describe("sidecar engine: a real `opa run --server`, killed mid-run and restarted", () => {
  let opa: OpaServer;
  let side: StartedGateway;
  let token: string;
  let auditDir: string;

  beforeAll(async () => {
    opa = await startOpa();
    // No decision cache: every message asks OPA, so the outage shows at once (with a cache, an allow is
    // served for at most cache.ttlMs after OPA dies; docs/authorization.md).
    auditDir = mkdtempSync(join(tmpdir(), "acceptance-matrix-"));
    side = await startFromYaml(
      yamlFor(`{ type: sidecar, url: "${opa.url}", timeoutMs: 300 }`, { cacheTtlMs: 0, auditPath: join(auditDir, "audit.log") }),
      {
        baseDir: process.cwd(),
        env: { SESSION_KEY },
      },
    );
    token = await userToken(idp, account("network-engineers", true), side.url);
  });
  afterAll(async () => {
    await side?.close();
    await opa?.kill();
    if (auditDir) rmSync(auditDir, { recursive: true, force: true });
  });

  it("OPA down → every request AUTHZ_UNAVAILABLE and nothing reaches the backend; OPA back → service resumes", async () => {
    const url = `${side.url}/mcp/catalyst-center`;
    const h = { authorization: `Bearer ${token}` };
    const sid = await openSession(url, h);
    const sh = { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    const backend = backends["catalyst-center"]!;
    let n = 100;
    /** One tools/call with a unique marker; returns its outcome and whether the backend saw it. */
    const call = async (): Promise<{ marker: string; outcome: "ok" | number | string }> => {
      const marker = `m-${n++}`;
      const r = await post(
        url,
        { jsonrpc: "2.0", id: n, method: "tools/call", params: { name: "get_devices", arguments: { text: marker } } },
        sh,
      );
      const { msgs, text } = await messages(r);
      const m = msgs[0];
      if (m?.result) return { marker, outcome: "ok" };
      if (m?.error) return { marker, outcome: (m.error as { code: number }).code };
      return { marker, outcome: `HTTP ${r.status} ${text.slice(0, 100)}` };
    };
    const sawMarker = (marker: string) => backend.calls.some((c) => c.arguments.text === marker);
    const list = async () => (await messages(await post(url, { jsonrpc: "2.0", id: 5, method: "tools/list" }, sh))).msgs[0];

    // Up: calls go through (tools/list first so get_devices is known as read).
    expect((await list())?.result).toBeDefined();
    for (let i = 0; i < 3; i++) expect((await call()).outcome).toBe("ok");

    // Mid-run: a steady stream of calls (2 in flight) while OPA is SIGKILLed.
    let phase: "up" | "down" | "restarting" = "up";
    const results: Array<{ marker: string; outcome: "ok" | number | string; phase: string }> = [];
    let stop = false;
    const worker = async () => {
      for (let i = 0; i < 400 && !stop; i++) {
        const startedIn = phase;
        const r = await call();
        results.push({ ...r, phase: startedIn });
      }
    };
    const workers = [worker(), worker()];
    await new Promise((r) => setTimeout(r, 100));
    await opa.kill();
    phase = "down";
    await new Promise((r) => setTimeout(r, 400));
    // A list cannot be filtered either: an error, never an unfiltered list.
    const downList = await list();
    expect(downList?.error).toMatchObject({ code: -32088, data: { gatewayCode: "AUTHZ_UNAVAILABLE" } });
    phase = "restarting";
    stop = true;
    await Promise.all(workers);

    const down = results.filter((r) => r.phase === "down");
    expect(down.length).toBeGreaterThan(3);
    for (const r of down) {
      expect(r.outcome, r.marker).toBe(-32088);
      expect(sawMarker(r.marker), r.marker).toBe(false);
    }
    // Across the whole run: each call either ran at the backend or was refused with AUTHZ_UNAVAILABLE.
    for (const r of results) {
      if (r.outcome === "ok") expect(sawMarker(r.marker)).toBe(true);
      else expect(r.outcome).toBe(-32088);
    }

    // OPA back on the same address: the gateway's pool reconnects, service resumes (bounded wait).
    opa = await startOpa({ port: opa.port });
    let resumed: "ok" | number | string = "none";
    for (let i = 0; i < 40 && resumed !== "ok"; i++) {
      resumed = (await call()).outcome;
      if (resumed !== "ok") await new Promise((r) => setTimeout(r, 50));
    }
    expect(resumed).toBe("ok");
    expect((await list())?.result).toMatchObject({ tools: expect.any(Array) });
  });

  // Two gateways started with startConfiguredGateway in one process (library use, tests): audit (and
  // telemetry) subscribe to the process-global diagnostics channels and record every gateway's
  // messages, so this gateway's audit file also holds the other gateway's traffic, attributed to it.
  // Fix: give each gateway an identity on its events (e.g. Exchange carries the Gateway/route map, or
  // a gatewayId set by createGateway) and have startAudit / startTelemetry (called from
  // assemble.ts startConfiguredGateway) ignore events of other gateways.
  it("a gateway's audit file records only its own traffic", async () => {
    const url = `${gw.url}/mcp/github`;
    const h = bearer(account("developers", true));
    const sid = await openSession(url, h);
    await (
      await post(
        url,
        { jsonrpc: "2.0", id: 4242, method: "tools/list" },
        { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
      )
    ).text();
    await side.close(); // flushes the audit file
    const audit = readFileSync(join(auditDir, "audit.log"), "utf8");
    expect(audit).toContain(account("network-engineers", true)); // its own traffic is there
    expect(audit).not.toContain(account("developers", true));
  });
});
