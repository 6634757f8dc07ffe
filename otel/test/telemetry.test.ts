// Spans exported over OTLP/HTTP to a loopback receiver for a synthetic session: names, kinds,
// parent/child links, semantic-convention attributes, trace continuity, sampling and zero cost when off.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { channels } from "../../gateway/src/diagnostics.ts";
import { hashSessionId, parseTraceparent } from "../../gateway/src/log/message-facts.ts";
import { startTelemetry, type Telemetry } from "../../gateway/src/otel/index.ts";
import { attr, KIND, type OtlpSpan, type Receiver, STATUS_ERROR, startReceiver } from "./helpers/otlp-receiver.ts";
import { realisticSession, SESSION_ID } from "./helpers/synthetic.ts";

let rx: Receiver;
let t: Telemetry | undefined;

beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
});
afterEach(async () => {
  await t?.shutdown();
  t = undefined;
  rx.spans.length = 0;
  rx.bodies.length = 0;
  rx.metricBodies.length = 0;
  rx.resources.length = 0;
  rx.requests.length = 0;
  rx.tokens.length = 0;
});

function start(extra: Parameters<typeof startTelemetry>[0] = {}): Telemetry {
  t = startTelemetry({ otlp: { endpoint: rx.url, metrics: false }, batch: { scheduledDelayMillis: 20 }, ...extra });
  return t;
}

const byName = (name: string) => rx.spans.filter((s) => s.name === name);
const one = (pred: (s: OtlpSpan) => boolean): OtlpSpan => {
  const found = rx.spans.filter(pred);
  expect(found, "exactly one span matches").toHaveLength(1);
  return found[0]!;
};
const childrenOf = (p: OtlpSpan) => rx.spans.filter((s) => s.parentSpanId === p.spanId && s.traceId === p.traceId);

describe("spans of a session (synthetic events → OTLP/HTTP receiver)", () => {
  it("names, kinds, parent/child links and MCP semantic-convention attributes", async () => {
    start({ serviceName: "gw-test" });
    realisticSession();
    await t!.forceFlush();

    const servers = rx.spans.filter((s) => s.kind === KIND.SERVER).map((s) => s.name);
    expect(servers.sort()).toEqual(
      [
        "initialize",
        "notifications/initialized",
        "notifications/progress",
        "prompts/get triage",
        "tools/call create_incident",
        "tools/call create_incident",
        "tools/call delete_everything",
        "tools/list",
      ].sort(),
    );
    expect(rx.resources[0]!.find((a) => a.key === "service.name")?.value.stringValue).toBe("gw-test");

    // The allowed call: SERVER span with the conventions' attributes.
    const call = one((s) => s.kind === KIND.SERVER && attr(s, "jsonrpc.request.id") === "2");
    expect(call.name).toBe("tools/call create_incident");
    expect(attr(call, "mcp.method.name")).toBe("tools/call");
    expect(attr(call, "gen_ai.tool.name")).toBe("create_incident");
    expect(attr(call, "gen_ai.operation.name")).toBe("execute_tool");
    expect(attr(call, "mcp.protocol.version")).toBe("2025-06-18");
    expect(attr(call, "mcp.session.id")).toBe(hashSessionId(SESSION_ID));
    expect(attr(call, "client.address")).toBe("127.0.0.1");
    expect(attr(call, "network.transport")).toBe("tcp");
    expect(attr(call, "user.id")).toBe("alice");
    expect(attr(call, "mcp_gateway.principal.client_id")).toBe("agent-42");
    expect(attr(call, "mcp_gateway.server")).toBe("servicenow");
    expect(attr(call, "error.type")).toBeUndefined();
    expect(call.status?.code ?? 0).not.toBe(STATUS_ERROR);
    expect(attr(call, "gen_ai.tool.call.arguments")).toBeUndefined();

    // Its children: one INTERNAL span per stage that reported something (the session check passed
    // silently: no span), one CLIENT span upstream, the progress notification.
    const kids = childrenOf(call);
    expect(kids.map((k) => `${k.kind}:${k.name}`).sort()).toEqual(
      [
        `${KIND.INTERNAL}:authn jwt`,
        `${KIND.INTERNAL}:authz opa`,
        `${KIND.INTERNAL}:credentials vault`,
        `${KIND.CLIENT}:tools/call create_incident`,
        `${KIND.SERVER}:notifications/progress`,
      ].sort(),
    );
    const authz = kids.find((k) => k.name === "authz opa")!;
    expect(attr(authz, "mcp_gateway.authz.decision")).toBe("allow");
    expect(attr(authz, "mcp_gateway.authz.engine")).toBe("wasm");
    expect(attr(authz, "mcp_gateway.authz.cache_hit")).toBe(false);
    expect(attr(authz, "mcp_gateway.authz.reason")).toBe("sre may call create_incident");
    const creds = kids.find((k) => k.name === "credentials vault")!;
    expect(attr(creds, "mcp_gateway.credentials.source")).toBe("vault");
    expect(attr(creds, "mcp_gateway.credentials.cache_hit")).toBe(false);
    const client = kids.find((k) => k.kind === KIND.CLIENT)!;
    expect(attr(client, "server.address")).toBe("backend.internal");
    expect(attr(client, "server.port")).toBe(8443);
    expect(attr(client, "network.transport")).toBe("tcp");
    expect(attr(client, "http.response.status_code")).toBe(200);
    expect(attr(client, "mcp.session.id")).toBe(hashSessionId("backend-session-1"));
    const progress = kids.find((k) => k.name === "notifications/progress")!;
    expect(attr(progress, "mcp_gateway.direction")).toBe("server-to-client");

    // Denied by policy: error status on the message and on the authz stage, and no upstream call.
    const denied = one((s) => s.kind === KIND.SERVER && s.name === "tools/call delete_everything");
    expect(denied.status?.code).toBe(STATUS_ERROR);
    // As the relay reports it: error.type is the JSON-RPC code the client got, the gateway code beside it.
    expect(attr(denied, "error.type")).toBe("-32080");
    expect(attr(denied, "rpc.response.status_code")).toBe("-32080");
    expect(attr(denied, "mcp_gateway.error.code")).toBe("AUTHZ_DENIED");
    const deniedKids = childrenOf(denied);
    expect(deniedKids.some((k) => k.kind === KIND.CLIENT)).toBe(false);
    const deniedAuthz = deniedKids.find((k) => k.name === "authz opa")!;
    expect(attr(deniedAuthz, "mcp_gateway.authz.decision")).toBe("deny");
    expect(attr(deniedAuthz, "mcp_gateway.stage.replied")).toBe("AUTHZ_DENIED");
    expect(deniedAuthz.status?.code).toBe(STATUS_ERROR);
    expect(deniedKids.some((k) => k.name === "credentials vault")).toBe(false);

    // The backend's JSON-RPC error: error.type is the code, the status message is the (scrubbed) error message.
    const failed = one((s) => s.kind === KIND.SERVER && attr(s, "jsonrpc.request.id") === "4");
    expect(attr(failed, "error.type")).toBe("-32603");
    expect(failed.status?.code).toBe(STATUS_ERROR);
    expect(failed.status?.message).toContain("backend exploded near Bearer [REDACTED]");
    const failedClient = childrenOf(failed).find((k) => k.kind === KIND.CLIENT)!;
    expect(attr(failedClient, "error.type")).toBe("-32603");

    // The backend unreachable: the client got -32090; the CLIENT span names the transport failure.
    const prompt = one((s) => s.kind === KIND.SERVER && s.name === "prompts/get triage");
    expect(attr(prompt, "gen_ai.prompt.name")).toBe("triage");
    expect(attr(prompt, "error.type")).toBe("-32090");
    expect(attr(prompt, "mcp_gateway.error.code")).toBe("UPSTREAM_UNAVAILABLE");
    const promptClient = childrenOf(prompt).find((k) => k.kind === KIND.CLIENT)!;
    expect(attr(promptClient, "error.type")).toBe("UPSTREAM_UNAVAILABLE");
    expect(promptClient.status?.code).toBe(STATUS_ERROR);

    // initialize learns its session id only at the end; the id is hashed there too.
    const init = one((s) => s.name === "initialize" && s.kind === KIND.SERVER);
    expect(attr(init, "mcp.session.id")).toBeUndefined();
    const initialized = one((s) => s.name === "notifications/initialized" && s.kind === KIND.SERVER);
    expect(attr(initialized, "jsonrpc.request.id")).toBeUndefined();
    expect(attr(initialized, "mcp.session.id")).toBe(hashSessionId(SESSION_ID));

    // Every span of one message shares its trace; separate messages without a client trace get separate traces.
    expect(new Set(kids.map((k) => k.traceId))).toEqual(new Set([call.traceId]));
    expect(denied.traceId).not.toBe(call.traceId);
  });

  it("continues the caller's trace from HTTP headers and propagates the CLIENT span upstream", async () => {
    start();
    const inbound = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const { results } = realisticSession({ inboundTraceparent: inbound });
    await t!.forceFlush();
    const call = one((s) => s.kind === KIND.SERVER && attr(s, "jsonrpc.request.id") === "2");
    expect(call.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    expect(call.parentSpanId).toBe("b7ad6b7169203331");
    const client = childrenOf(call).find((k) => k.kind === KIND.CLIENT)!;
    const prop = results.find((r) => r.ev.message.id === 2)!.upstreamPropagation!;
    const tp = parseTraceparent(prop.traceparent)!;
    expect(tp.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    // What the backend receives names the CLIENT span as its parent: one trace id end to end.
    expect(tp.spanId).toBe(client.spanId);
    expect(tp.sampled).toBe(true);
  });

  it("prefers params._meta over headers (SEP-414) and links the transport context", async () => {
    start();
    const header = "00-11111111111111111111111111111111-2222222222222222-01";
    const meta = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const { results } = realisticSession({ inboundTraceparent: header, metaTraceparent: meta });
    await t!.forceFlush();
    const call = one((s) => s.kind === KIND.SERVER && attr(s, "jsonrpc.request.id") === "2");
    expect(call.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(call.parentSpanId).toBe("00f067aa0ba902b7");
    expect(call.links?.map((l) => `${l.traceId}/${l.spanId}`)).toEqual(["11111111111111111111111111111111/2222222222222222"]);
    const prop = results.find((r) => r.ev.message.id === 2)!.upstreamPropagation!;
    expect(parseTraceparent(prop.traceparent)!.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    // The progress notification from the backend lands in the caller's trace, under the call.
    const progress = byName("notifications/progress")[0]!;
    expect(progress.traceId).toBe(call.traceId);
    expect(progress.parentSpanId).toBe(call.spanId);
  });

  it("respects the caller's sampled=0 flag and still propagates the trace id", async () => {
    start();
    const { results } = realisticSession({ inboundTraceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" });
    await t!.forceFlush();
    expect(rx.spans.some((s) => s.traceId === "0af7651916cd43dd8448eb211c80319c")).toBe(false);
    const tp = parseTraceparent(results.find((r) => r.ev.message.id === 2)!.upstreamPropagation!.traceparent)!;
    expect(tp).toMatchObject({ traceId: "0af7651916cd43dd8448eb211c80319c", sampled: false });
  });

  it("sampler ratio 0 records nothing", async () => {
    start({ sampler: { ratio: 0 } });
    realisticSession();
    await t!.forceFlush();
    expect(rx.spans).toHaveLength(0);
  });

  it("honours OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT and _HEADERS", async () => {
    const saved = { ...process.env };
    process.env.OTEL_SERVICE_NAME = "from-env";
    process.env.OTEL_RESOURCE_ATTRIBUTES = "deployment.environment.name=test,team=sec";
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = rx.url;
    process.env.OTEL_EXPORTER_OTLP_HEADERS = "x-otlp-token=from-env-header";
    try {
      t = startTelemetry({ otlp: { metrics: false }, batch: { scheduledDelayMillis: 20 } });
      realisticSession();
      await t.forceFlush();
    } finally {
      for (const k of ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    expect(rx.spans.length).toBeGreaterThan(0);
    const res = Object.fromEntries(rx.resources[0]!.map((a) => [a.key, a.value.stringValue]));
    expect(res["service.name"]).toBe("from-env");
    expect(res.team).toBe("sec");
    expect(res["deployment.environment.name"]).toBe("test");
    expect(rx.tokens.length).toBeGreaterThan(0);
    expect(rx.tokens.every((v) => v === "from-env-header")).toBe(true);
  });

  it("honours OTEL_TRACES_SAMPLER / _ARG when the config sets no sampler", async () => {
    const saved = { ...process.env };
    const run = async (sampler: string, arg?: string) => {
      process.env.OTEL_TRACES_SAMPLER = sampler;
      if (arg === undefined) delete process.env.OTEL_TRACES_SAMPLER_ARG;
      else process.env.OTEL_TRACES_SAMPLER_ARG = arg;
      try {
        start();
        const { results } = realisticSession();
        await t!.forceFlush();
        await t!.shutdown();
        t = undefined;
        const n = rx.spans.length;
        rx.spans.length = 0;
        return { n, sampled: results.map((r) => parseTraceparent(r.upstreamPropagation?.traceparent)?.sampled) };
      } finally {
        for (const k of ["OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"]) {
          if (saved[k] === undefined) delete process.env[k];
          else process.env[k] = saved[k];
        }
      }
    };
    const off = await run("always_off");
    expect(off.n).toBe(0);
    // Not sampled, yet the context still goes upstream, flagged 00.
    expect(off.sampled.filter((s) => s !== undefined).every((s) => s === false)).toBe(true);
    expect((await run("traceidratio", "0")).n).toBe(0);
    const on = await run("traceidratio", "1");
    expect(on.n).toBeGreaterThan(0);
    expect(on.sampled.filter((s) => s !== undefined).every((s) => s === true)).toBe(true);
  });

  it("OTLP encoding: JSON unless OTEL_EXPORTER_OTLP_[TRACES_|METRICS_]PROTOCOL asks for http/protobuf", async () => {
    const run = async (env: Record<string, string>) => {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        t = startTelemetry({ otlp: { endpoint: rx.url }, batch: { scheduledDelayMillis: 20 } });
        realisticSession();
        // The receiver refuses protobuf (415): only the content type it saw matters here.
        await t.forceFlush().catch(() => {});
        await t.shutdown();
        t = undefined;
      } finally {
        for (const k of Object.keys(env)) {
          if (saved[k] === undefined) delete process.env[k];
          else process.env[k] = saved[k];
        }
      }
      const seen = [...new Set(rx.requests)].sort();
      rx.requests.length = 0;
      return seen;
    };
    expect(await run({})).toEqual(["/v1/metrics application/json", "/v1/traces application/json"]);
    expect(await run({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json" })).toEqual([
      "/v1/metrics application/json",
      "/v1/traces application/x-protobuf",
    ]);
    expect(await run({ OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/protobuf" })).toEqual([
      "/v1/metrics application/x-protobuf",
      "/v1/traces application/json",
    ]);
  });

  it("exports metrics over OTLP", async () => {
    t = startTelemetry({ otlp: { endpoint: rx.url, traces: false } });
    realisticSession();
    await t.forceFlush();
    const all = rx.metricBodies.join("\n");
    expect(all).toContain("mcp.server.operation.duration");
    expect(all).toContain("mcp.client.operation.duration");
    expect(all).toContain("mcp_gateway.authz.decisions");
  });
});

describe("zero cost when off", () => {
  const all = () => Object.values(channels).map((c) => c.hasSubscribers);
  it("no channel has a subscriber until startTelemetry, and none after shutdown", async () => {
    expect(all().every((h) => h === false)).toBe(true);
    const tel = startTelemetry({ otlp: { traces: false, metrics: false } });
    expect(channels.messageStart.hasSubscribers).toBe(true);
    expect(channels.stageEnd.hasSubscribers).toBe(true);
    await tel.shutdown();
    expect(all().every((h) => h === false)).toBe(true);
  });
  it("OTEL_SDK_DISABLED=true subscribes to nothing", async () => {
    process.env.OTEL_SDK_DISABLED = "true";
    try {
      const tel = startTelemetry({});
      expect(channels.messageStart.hasSubscribers).toBe(false);
      await tel.shutdown();
    } finally {
      delete process.env.OTEL_SDK_DISABLED;
    }
  });
});
