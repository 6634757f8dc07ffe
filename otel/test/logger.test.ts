// The gateway's ECS logger (gateway/src/log/logger.ts) and the redaction rules it shares with audit and
// spans. (Lives in otel/test because gateway/test belongs to the lead; it imports no OpenTelemetry.)

import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { Secret } from "../../gateway/src/config/secret.ts";
import type { MessageEvent } from "../../gateway/src/diagnostics.ts";
import { GatewayError } from "../../gateway/src/errors.ts";
import { createLogger } from "../../gateway/src/log/logger.ts";
import { traceFields } from "../../gateway/src/log/message-facts.ts";
import { compileJsonPath, compileRedactor, looksLikeToken, redactString } from "../../gateway/src/log/redact.ts";
import { BEARER, exchange, rpc } from "./helpers/synthetic.ts";

function capture() {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on("data", (c: Buffer) => lines.push(...c.toString("utf8").split("\n").filter(Boolean)));
  return { stream, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("createLogger", () => {
  it("writes one ECS JSON object per line with the level filter applied", async () => {
    const c = capture();
    const log = createLogger({ level: "info", stream: c.stream, serviceName: "gw", now: () => Date.UTC(2025, 0, 2, 3, 4, 5) });
    log.debug("hidden");
    log.info("upstream connected", { "event.action": "connect", "server.address": "backend.internal", "mcp_gateway.server": "sn" });
    log.warn("slow", { "event.duration": 12_000_000 });
    await new Promise((r) => setImmediate(r));
    const [a, b] = c.json();
    expect(c.lines).toHaveLength(2);
    expect(a).toEqual({
      "@timestamp": "2025-01-02T03:04:05.000Z",
      "log.level": "info",
      message: "upstream connected",
      "ecs.version": "8.11.0",
      "service.name": "gw",
      "event.action": "connect",
      "server.address": "backend.internal",
      "mcp_gateway.server": "sn",
    });
    expect(b!["log.level"]).toBe("warn");
    expect(log.isLevelEnabled("debug")).toBe(false);
  });

  it("never prints a Secret, a bearer token, a JWT or a secret-named field", async () => {
    const c = capture();
    const log = createLogger({ level: "debug", stream: c.stream });
    const s = new Secret("s3cr3t-vault-token-value");
    log.info(`got Authorization: Bearer ${BEARER}`, {
      token: s,
      nested: { deep: [s, `jwt ${BEARER}`], password: "hunter2" },
      "http.request.headers.authorization": "Basic dXNlcjpwYXNzd29yZA==",
      "url.original": `https://x/?q=${BEARER}`,
      "vault.token": "hvs.CAESIJ0123456789abcdefghijklmnop",
    });
    log.error("boom", new GatewayError("UPSTREAM_UNAVAILABLE", `connect refused (sent Bearer ${BEARER})`));
    log.child({ "event.dataset": "mcp_gateway.upstream", secret: "child-secret-value" }).warn("child line");
    await new Promise((r) => setImmediate(r));
    const all = c.lines.join("\n");
    for (const needle of ["s3cr3t-vault-token-value", BEARER, "hunter2", "dXNlcjpwYXNzd29yZA", "CAESIJ0123456789", "child-secret-value"]) {
      expect(all).not.toContain(needle);
    }
    const [first, err, child] = c.json();
    expect(first!.message).toBe("got Authorization: Bearer [REDACTED]");
    expect(first!.nested).toEqual({ deep: ["[REDACTED]", "jwt [REDACTED]"], password: "[REDACTED]" });
    expect(err).toMatchObject({ "log.level": "error", "error.type": "GatewayError", "error.code": "UPSTREAM_UNAVAILABLE" });
    expect(String(err!["error.message"])).toContain("Bearer [REDACTED]");
    expect(child!["event.dataset"]).toBe("mcp_gateway.upstream");
  });

  it("does not let fields override @timestamp, log.level or message", async () => {
    const c = capture();
    createLogger({ stream: c.stream }).info("real", { message: "fake", "log.level": "debug" });
    await new Promise((r) => setImmediate(r));
    expect(c.json()[0]).toMatchObject({ message: "real", "log.level": "info" });
  });
});

describe("redaction", () => {
  it("recognises tokens but leaves prose alone", () => {
    expect(looksLikeToken(`Bearer ${BEARER}`)).toBe(true);
    expect(looksLikeToken(BEARER)).toBe(true);
    expect(looksLikeToken("ghp_abcdefghijklmnopqrstuvwxyz0123456789")).toBe(true);
    expect(looksLikeToken("the bearer of bad news was eyeing the token box")).toBe(false);
    expect(redactString("a Bearer abcdefghijkl b")).toBe("a Bearer [REDACTED] b");
  });

  it("JSON-path rules: members, wildcards, indexes, descendants", () => {
    const r = compileRedactor(["$.arguments.customer.ssn", "$.arguments.items[*].card", "$..otp", "$.result.content[0].text"]);
    const args = { customer: { ssn: "123-45-6789", name: "Ann" }, items: [{ card: "4111", qty: 1 }], x: { y: { otp: "999" } } };
    expect(JSON.parse(r.arguments(args))).toEqual({
      customer: { ssn: "[REDACTED]", name: "Ann" },
      items: [{ card: "[REDACTED]", qty: 1 }],
      x: { y: { otp: "[REDACTED]" } },
    });
    expect(args.customer.ssn).toBe("123-45-6789");
    expect(JSON.parse(r.result({ content: [{ type: "text", text: "secret" }] }))).toEqual({
      content: [{ type: "text", text: "[REDACTED]" }],
    });
    expect(() => compileJsonPath("arguments.x")).toThrow(/must start with/);
    expect(() => compileJsonPath("$")).toThrow();
    expect(() => compileJsonPath("$.a[?(@.x)]")).toThrow();
  });

  it("caps recorded values", () => {
    const r = compileRedactor([], 64);
    expect(r.arguments({ text: "x".repeat(500) })).toMatch(/…\[truncated \d+ chars\]$/);
  });
});

describe("traceFields: what a request's log lines say about its trace", () => {
  const T = "4bf92f3577b34da6a3ce929d0e0e4736";
  it("untraced gateway: the caller's trace id from _meta, else from the header; no span id (the gateway made none)", () => {
    const fromHeader = exchange({ headers: { host: "h", traceparent: `00-${T}-00f067aa0ba902b7-01` } });
    expect(traceFields(fromHeader)).toEqual({ "trace.id": T });
    const other = "5b8efff798038103d269b633813fc60c";
    const fromMeta = exchange({
      headers: { host: "h", traceparent: `00-${T}-00f067aa0ba902b7-01` },
      messages: [rpc({ id: 1, method: "ping", params: { _meta: { traceparent: `00-${other}-00f067aa0ba902b7-01` } } })],
    });
    expect(traceFields(fromMeta)).toEqual({ "trace.id": other });
    expect(traceFields(exchange())).toEqual({});
    expect(traceFields(exchange({ headers: { host: "h", traceparent: "garbage" } }))).toEqual({});
  });
  it("traced: the span the gateway propagates (its own), read when the line is written", () => {
    const ex = exchange({ headers: { host: "h", traceparent: `00-${T}-00f067aa0ba902b7-01` } });
    const ev = { exchange: ex, message: rpc({ id: 1, method: "ping" }), direction: "client-to-server", start: 0 } as MessageEvent;
    ex.traceEvent = ev;
    ev.propagation = { traceparent: `00-${T}-1111111111111111-01` };
    expect(traceFields(ex)).toEqual({ "trace.id": T, "span.id": "1111111111111111" });
    ev.propagation.traceparent = `00-${T}-2222222222222222-01`;
    expect(traceFields(ex)["span.id"]).toBe("2222222222222222");
  });
});
