// Acceptance (issue 6): the spans and metrics of a real session through a gateway started from YAML
// with authn (real IdP tokens), authz (default policy) and credentials: stage spans, error.type for a
// denied call and for backend errors, progress, and one trace id from the client through the gateway
// into a backend instrumented with OpenTelemetry that continues the trace from `_meta.traceparent`.
// (otel/test/e2e.test.ts covers the bare relay; this adds what the configured stages contribute.)

import { randomBytes } from "node:crypto";
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attr, KIND, type OtlpSpan, type Receiver, STATUS_ERROR, startReceiver } from "../../../otel/test/helpers/otlp-receiver.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import {
  account,
  type Backend,
  idpAccounts,
  issuerYaml,
  messages,
  openSession,
  post,
  type StartedGateway,
  startBackend,
  startFromYaml,
  userToken,
} from "./fixtures.ts";

// The backend's own OpenTelemetry: it continues whatever trace arrives in params._meta.
const backendExporter = new InMemorySpanExporter();
const backendTracer = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: backendExporter })] }).getTracer("backend");
const w3c = new W3CTraceContextPropagator();
function continueTrace(tool: string, meta: Record<string, unknown> | undefined): void {
  const ctx = w3c.extract(ROOT_CONTEXT, meta ?? {}, defaultTextMapGetter);
  backendTracer.startSpan(`backend ${tool}`, { kind: SpanKind.SERVER }, ctx).end();
}

const hex = (n: number) => randomBytes(n).toString("hex");
const SN_TOKEN = `sn-${hex(12)}`;

let idp: Idp;
let rx: Receiver;
let servicenow: Backend;
let catalyst: Backend;
let gw: StartedGateway;
let token: string;
let sid: string;
/** The JSON-RPC error code the backend answered for an unknown resource. */
let backendCode: number;
const CLIENT_TRACE = hex(16);
const CLIENT_SPAN = hex(8);

beforeAll(async () => {
  [idp, rx, servicenow, catalyst] = await Promise.all([
    startIdp({ accounts: idpAccounts() }),
    startReceiver(),
    startBackend("servicenow", { extraTools: true, onCall: continueTrace }),
    startBackend("catalyst-center"),
  ]);
  process.env.OTEL_BSP_SCHEDULE_DELAY = "20";
  gw = await startFromYaml(
    `
listen: { host: 127.0.0.1, port: 0 }
sessions: { key: "\${env:SESSION_KEY}" }
auth:${issuerYaml(idp)}
authz:
  engine: { type: wasm, watch: false }
  decisionLog: { enabled: false }
servers:
  servicenow:
    url: ${servicenow.url}
    credentials:
      from: { env: { token: SN_TOKEN } }
      inject: { headers: { Authorization: "Bearer {token}" } }
  catalyst-center:
    url: ${catalyst.url}
telemetry:
  enabled: true
  serviceName: acceptance-observability
  otlp: { endpoint: "${rx.url}", metrics: false }
  prometheus: { enabled: true }
  audit: { enabled: false }
`,
    { baseDir: process.cwd(), env: { SESSION_KEY: `observability-session-key-${hex(16)}`, SN_TOKEN } },
  );
  token = await userToken(idp, account("service-desk", true), gw.url);
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([servicenow?.close(), catalyst?.close(), rx?.close(), idp?.close()]);
  delete process.env.OTEL_BSP_SCHEDULE_DELAY;
});

const rpc = (id: number, method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: "2.0", id, method, params });

/** Wait (bounded) until the receiver has spans matching every predicate. */
async function spansWhere(...preds: Array<(s: OtlpSpan) => boolean>): Promise<OtlpSpan[]> {
  for (let i = 0; i < 100; i++) {
    const found = preds.map((p) => rx.spans.find(p));
    if (found.every(Boolean)) return found as OtlpSpan[];
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`spans not exported; have: ${rx.spans.map((s) => `${s.name}/${s.kind}`).join(", ")}`);
}

const server =
  (name: string, extra: (s: OtlpSpan) => boolean = () => true) =>
  (s: OtlpSpan) =>
    s.kind === KIND.SERVER && s.name === name && extra(s);
const childrenOf = (p: OtlpSpan) => rx.spans.filter((s) => s.parentSpanId === p.spanId && s.traceId === p.traceId);

describe("spans and metrics of a real session through the configured stages", () => {
  it("drives the session: initialize, list, calls (allowed, denied, tool error, backend error, progress)", async () => {
    const url = `${gw.url}/mcp/servicenow`;
    const h = { authorization: `Bearer ${token}` };
    sid = await openSession(url, h);
    const sh = { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    const send = async (body: unknown, to = url, headers = sh) => (await messages(await post(to, body, headers))).msgs;
    expect((await send(rpc(2, "tools/list")))[0]?.result).toBeDefined();
    const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    expect(
      (await send(rpc(3, "tools/call", { name: "get_incident", arguments: { text: "INC1" }, _meta: { traceparent } })))[0],
    ).toMatchObject({
      result: { content: [{ text: "servicenow:get_incident ok" }] },
    });
    const progress = await send(rpc(4, "tools/call", { name: "count", arguments: { n: 2 }, _meta: { progressToken: "p1" } }));
    expect(progress.filter((m) => m.method === "notifications/progress")).toHaveLength(2);
    expect((await send(rpc(5, "tools/call", { name: "fail", arguments: {} })))[0]).toMatchObject({ result: { isError: true } });
    const notFound = (await send(rpc(6, "resources/read", { uri: "servicenow://nope" })))[0];
    expect(notFound?.error).toBeDefined();
    backendCode = (notFound!.error as { code: number }).code;

    // Denied: service-desk only reads on catalyst-center.
    const cc = `${gw.url}/mcp/catalyst-center`;
    const ccSid = await openSession(cc, h);
    const ccH = { ...h, "mcp-session-id": ccSid, "mcp-protocol-version": "2025-06-18" };
    await send(rpc(2, "tools/list"), cc, ccH);
    expect((await send(rpc(7, "tools/call", { name: "update_site", arguments: { site: "x" } }), cc, ccH))[0]?.error).toMatchObject({
      code: -32080,
    });
  });

  it("SERVER span per message with the MCP attributes, INTERNAL stage spans and a CLIENT span as its children", async () => {
    const [call] = await spansWhere(server("tools/call get_incident"));
    expect(call!.traceId).toBe(CLIENT_TRACE);
    expect(call!.parentSpanId).toBe(CLIENT_SPAN);
    expect(attr(call!, "mcp.method.name")).toBe("tools/call");
    expect(attr(call!, "gen_ai.tool.name")).toBe("get_incident");
    expect(attr(call!, "gen_ai.operation.name")).toBe("execute_tool");
    expect(attr(call!, "jsonrpc.request.id")).toBe("3");
    expect(attr(call!, "mcp.protocol.version")).toBe("2025-06-18");
    expect(attr(call!, "client.address")).toBe("127.0.0.1");
    expect(attr(call!, "user.id")).toBe(account("service-desk", true));
    expect(attr(call!, "mcp_gateway.server")).toBe("servicenow");
    expect(attr(call!, "mcp_gateway.authz.decision")).toBe("allow");
    expect(attr(call!, "error.type")).toBeUndefined();
    // A hash of the session id, never the id (it is a capability).
    const sessionAttr = attr(call!, "mcp.session.id");
    expect(typeof sessionAttr).toBe("string");
    expect(sessionAttr).not.toBe(sid);
    expect(sid).not.toContain(String(sessionAttr));

    const kids = await (async () => {
      for (let i = 0; i < 50; i++) {
        const k = childrenOf(call!);
        if (k.some((s) => s.kind === KIND.CLIENT) && k.filter((s) => s.kind === KIND.INTERNAL).length >= 3) return k;
        await new Promise((r) => setTimeout(r, 30));
      }
      return childrenOf(call!);
    })();
    const internal = kids.filter((s) => s.kind === KIND.INTERNAL);
    const stages = internal.map((s) => attr(s, "mcp_gateway.stage"));
    expect(stages).toEqual(expect.arrayContaining(["authn", "authz", "credentials"]));
    const client = kids.find((s) => s.kind === KIND.CLIENT)!;
    expect(client.name).toBe("tools/call get_incident");
    expect(attr(client, "server.address")).toBe("127.0.0.1");
    expect(attr(client, "network.transport")).toBe("tcp");
    expect(attr(client, "mcp_gateway.upstream.transport")).toBe("streamable-http");

    const [init, list] = await spansWhere(server("initialize"), server("tools/list"));
    expect(attr(init!, "mcp.method.name")).toBe("initialize");
    expect(attr(list!, "mcp.session.id")).toBe(sessionAttr);
  });

  it("error.type: a denied call (gateway's code, no CLIENT span), a tool error, a backend JSON-RPC error", async () => {
    const [denied, failed, notFound] = await spansWhere(
      server("tools/call update_site"),
      server("tools/call fail"),
      server("resources/read", (s) => attr(s, "mcp.resource.uri") === "servicenow://nope"),
    );
    expect(attr(denied!, "error.type")).toBe("-32080");
    expect(attr(denied!, "mcp_gateway.error.code")).toBe("AUTHZ_DENIED");
    expect(attr(denied!, "mcp_gateway.authz.decision")).toBe("deny");
    expect(denied!.status?.code).toBe(STATUS_ERROR);
    const deniedKids = childrenOf(denied!);
    expect(deniedKids.some((s) => s.kind === KIND.CLIENT)).toBe(false);
    const authz = deniedKids.find((s) => attr(s, "mcp_gateway.stage") === "authz");
    expect(authz && attr(authz, "mcp_gateway.stage.replied")).toBe("AUTHZ_DENIED");

    expect(attr(failed!, "error.type")).toBe("tool_error");
    expect(failed!.status?.code).toBe(STATUS_ERROR);

    expect(attr(notFound!, "error.type")).toBe(String(backendCode));
    expect(attr(notFound!, "rpc.response.status_code")).toBe(String(backendCode));
    expect(notFound!.status?.code).toBe(STATUS_ERROR);
    const nfClient = childrenOf(notFound!).find((s) => s.kind === KIND.CLIENT);
    expect(nfClient && attr(nfClient, "error.type")).toBe(String(backendCode));
  });

  it("progress notifications from the backend are SERVER spans in the call's trace", async () => {
    const [count] = await spansWhere(server("tools/call count"));
    const [p] = await spansWhere(server("notifications/progress", (s) => s.traceId === count!.traceId));
    expect(attr(p!, "mcp_gateway.direction")).toBe("server-to-client");
  });

  it("one trace id end to end: client → gateway SERVER → CLIENT → a backend continuing `_meta.traceparent`", async () => {
    const [call] = await spansWhere(server("tools/call get_incident"));
    const client = childrenOf(call!).find((s) => s.kind === KIND.CLIENT)!;
    const seen = servicenow.calls.find((c) => c.tool === "get_incident")!;
    expect(String(seen.meta?.traceparent)).toMatch(new RegExp(`^00-${CLIENT_TRACE}-[0-9a-f]{16}-01$`));
    const backendSpan = backendExporter.getFinishedSpans().find((s) => s.name === "backend get_incident")!;
    expect(backendSpan.spanContext().traceId).toBe(CLIENT_TRACE);
    // The backend's parent is one of the gateway's spans of this message (not the client's own span).
    const parent = backendSpan.parentSpanContext?.spanId;
    expect([call!.spanId, client.spanId]).toContain(parent);
    // The HTTP header carries the same context as _meta.
    const httpSeen = servicenow.seen.find((s) => (s.body?.params as { name?: string } | undefined)?.name === "get_incident");
    expect(String(httpSeen?.headers.traceparent)).toContain(CLIENT_TRACE);
  });

  // docs/observability.md ("INTERNAL span — each filter stage") promises per-stage attributes: authn
  // method, authz decision/reason/engine/cache_hit, credentials source/cache_hit. The chain copies
  // ex.vars[STAGE_ATTRIBUTES] onto StageEvent.attributes (chain.ts endStage), but no filter sets it:
  // the authz filter stores its Outcome under AUTHZ_OUTCOME only, authn and credentials publish
  // nothing. So the stage spans are bare and audit records lack mcp_gateway.authz.reason / .engine.
  // Fix: in filters/authz/filter.ts onMessage (and filterList), when channels.stageEnd.hasSubscribers,
  // ex.vars.set(STAGE_ATTRIBUTES, { decision, reason, engine, cache_hit, revision }) from the Outcome;
  // likewise in filters/authn/filter.ts ({ method, cache_hit }) and the credentials filter
  // ({ source, cache_hit }).
  it("stage spans carry the attributes their filters publish (authn method, authz decision/engine, credentials source)", async () => {
    const [call] = await spansWhere(server("tools/call get_incident"));
    const internal = childrenOf(call!).filter((s) => s.kind === KIND.INTERNAL);
    // A filter with both hooks has a request-level and a message-level span; the attributes are on the one that decided.
    const stage = (name: string) =>
      internal.find(
        (s) => attr(s, "mcp_gateway.stage") === name && (s.attributes ?? []).some((kv) => kv.key.startsWith(`mcp_gateway.${name}.`)),
      )!;
    expect(attr(stage("authz"), "mcp_gateway.authz.decision")).toBe("allow");
    expect(attr(stage("authz"), "mcp_gateway.authz.engine")).toBe("wasm");
    expect(attr(stage("authn"), "mcp_gateway.authn.method")).toBe("jwt");
    expect(attr(stage("credentials"), "mcp_gateway.credentials.source")).toBe("env");
  });

  // The relay publishes upstream.start before it builds the upstream request, so the backend continues
  // from the CLIENT span. (docs/observability.md "Trace context propagation" still says the parent is the
  // SERVER span "today": that sentence is out of date.)
  it("the backend's parent span is the gateway's CLIENT span", async () => {
    const [call] = await spansWhere(server("tools/call get_incident"));
    const client = childrenOf(call!).find((s) => s.kind === KIND.CLIENT)!;
    const backendSpan = backendExporter.getFinishedSpans().find((s) => s.name === "backend get_incident")!;
    expect(backendSpan.parentSpanContext?.spanId).toBe(client.spanId);
  });

  it("/metrics exposes mcp.server.operation.duration (and the client histogram, decisions) after traffic", async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(text).toMatch(/^mcp_server_operation_duration_bucket\{[^}]*mcp_method_name="tools\/call"[^}]*\} \d+/m);
    expect(text).toMatch(/^mcp_server_operation_duration_count\{[^}]*mcp_gateway_server="servicenow"[^}]*\} [1-9]/m);
    expect(text).toMatch(/^mcp_server_operation_duration_count\{[^}]*error_type="-32080"[^}]*\} [1-9]/m);
    expect(text).toMatch(/^mcp_client_operation_duration_count\{[^}]*mcp_method_name="tools\/call"[^}]*\} [1-9]/m);
    expect(text).toMatch(/^mcp_gateway_authz_decisions_total\{[^}]*mcp_gateway_authz_decision="deny"[^}]*\} [1-9]/m);
    expect(text).not.toContain(token);
    expect(text).not.toContain(SN_TOKEN);
  });
});
