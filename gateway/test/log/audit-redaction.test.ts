// Audit records are serialised without a replacer function, so the redaction happens when a record is
// built. These tests hold that to the second-line-of-defence guarantee: a token in any caller-controlled
// field never reaches the line, and the built record is exactly what the redacting replacer would write.

import type { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { Principal } from "../../src/chain/types.ts";
import { toMessage } from "../../src/codec/jsonrpc.ts";
import { channels, type MessageEvent, type StageEvent } from "../../src/diagnostics.ts";
import { AUDIT_FIELDS, type AuditRecord, type AuditSink, createAuditSink, startAudit } from "../../src/log/audit.ts";
import { redactingReplacer } from "../../src/log/redact.ts";
import { type RefusalEvent, refusalChannel } from "../../src/log/refusals.ts";
import { exchange } from "../authz/exchange.ts";

// One token of each shape the redactor knows, each unique so a leak names its field.
const JWT = (n: number) => `eyJhbGciOiJSUzI1NiJ9${n}.eyJzdWIiOiJhbGljZSJ9aaaa${n}.c2lnbmF0dXJlc2lnbmF0dXJl${n}`;
const TOKENS = {
  sub: JWT(1),
  iss: `https://idp.test/Bearer abcdefgh12345678`,
  clientId: "ghp_0123456789abcdefghijABCDEFGHIJ",
  group: "sk-proj0123456789abcdefghijkl",
  scope: JWT(2),
  amr: "xoxb-1234567890-abcdef",
  clientAddress: `10.0.0.1 Bearer qwertyuiop123456`,
  server: `route-${JWT(3)}`,
  method: `x/custom/${JWT(4)}`,
  tool: `tool-${JWT(5)}`,
  prompt: `prompt-${JWT(6)}`,
  uri: `file:///tmp/${JWT(7)}`,
  completionRef: `ref-${JWT(8)}`,
  requestId: `id-${JWT(9)}`,
  protocol: `2025-06-18 Bearer zxcvbnmasdf12345`,
  reason: `denied because Bearer reason0123456789 was shown`,
  engine: `wasm-${JWT(10)}`,
  revision: `sha256:${JWT(11)}`,
  action: `execute-${JWT(12)}`,
  errorType: `err-${JWT(13)}`,
  taskId: `task-${JWT(14)}`,
  workflowId: `wf-${JWT(15)}`,
  sessionId: `g1.${"S".repeat(48)}`,
  path: `/mcp/${JWT(16)}`,
  httpMethod: `GET-${JWT(17)}`,
} as const;

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

/** A stream that keeps what is written to it. */
function collect(into: string[]): Pick<Writable, "write"> {
  const write = (chunk: unknown, ...rest: unknown[]) => {
    into.push(String(chunk));
    const cb = rest.find((x) => typeof x === "function") as (() => void) | undefined;
    cb?.();
    return true;
  };
  return { write } as Pick<Writable, "write">;
}

/** A sink that keeps the built records (objects) and the lines the real sink would write. */
function capture() {
  const built: AuditRecord[] = [];
  const lines: string[] = [];
  const real = createAuditSink({ stream: collect(lines), flushIntervalMs: 0 });
  const sink: AuditSink = {
    write: (r) => real.write(r),
    writeRedacted: (r) => {
      built.push(r);
      real.writeRedacted!(r);
    },
    flush: () => real.flush(),
    close: () => real.close(),
    get dropped() {
      return real.dropped;
    },
  };
  const text = async () => {
    await real.flush();
    return lines.join("");
  };
  return { sink, built, text };
}

function principal(frozen: boolean): Principal {
  const p: Principal = {
    sub: TOKENS.sub,
    iss: TOKENS.iss,
    clientId: TOKENS.clientId,
    groups: ["sre", TOKENS.group],
    scopes: ["mcp", TOKENS.scope],
    amr: [TOKENS.amr],
    claims: {},
  };
  return frozen ? Object.freeze(p) : p;
}

function publishMessage(p: Principal, raw: Record<string, unknown>, opts: { response?: Record<string, unknown>; decided?: boolean } = {}) {
  const ex = Object.assign(exchange(TOKENS.server, p, { sessionId: TOKENS.sessionId }), {
    clientAddress: TOKENS.clientAddress,
    protocolVersion: TOKENS.protocol,
  });
  const message = toMessage({ jsonrpc: "2.0", ...raw });
  const start = performance.now();
  if (opts.decided) {
    const st: StageEvent = {
      exchange: ex,
      filter: "authz",
      stage: "authz",
      message,
      start,
      end: start,
      replied: "AUTHZ_DENIED",
      attributes: { decision: "deny", reason: TOKENS.reason, engine: TOKENS.engine, revision: TOKENS.revision, action: TOKENS.action },
    };
    channels.stageEnd.publish(st);
  }
  const ev: MessageEvent = {
    exchange: ex,
    message,
    direction: "client-to-server",
    start,
    end: start + 1,
    errorType: TOKENS.errorType,
    ...(opts.response ? { response: toMessage({ jsonrpc: "2.0", id: raw.id ?? null, ...opts.response }) } : {}),
  };
  channels.messageEnd.publish(ev);
}

function publishAll(p: Principal) {
  publishMessage(p, { id: TOKENS.requestId, method: "tools/call", params: { name: TOKENS.tool, arguments: {} } }, { decided: true });
  publishMessage(p, { id: 2, method: "prompts/get", params: { name: TOKENS.prompt } });
  publishMessage(p, { id: 3, method: "resources/read", params: { uri: TOKENS.uri } });
  publishMessage(p, { id: 4, method: "completion/complete", params: { ref: { type: "ref/prompt", name: TOKENS.completionRef } } });
  publishMessage(p, { id: 5, method: TOKENS.method, params: {} });
  publishMessage(p, { id: 6, method: "tasks/get", params: { taskId: TOKENS.taskId } });
  publishMessage(
    p,
    { id: 7, method: "tools/call", params: { name: "run", arguments: {} } },
    { response: { result: { content: [], _meta: { "mcp-edge/workflow-id": TOKENS.workflowId } } } },
  );
  const refusal: RefusalEvent = {
    gatewayId: undefined,
    server: TOKENS.server,
    code: "BAD_ROUTE",
    httpStatus: 404,
    httpMethod: TOKENS.httpMethod,
    path: TOKENS.path,
    clientAddress: TOKENS.clientAddress,
    principal: p,
    time: Date.now(),
  };
  refusalChannel.publish(refusal);
}

/** The distinctive part of each token (what a leak would show even with the scheme name kept). */
const needles = Object.values(TOKENS).flatMap(
  (t) => t.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+|ghp_\w+|sk-\w+|xoxb-[\w-]+|g1\.\w+|[a-z0-9]{16}$/gi) ?? [t],
);

describe("audit records are redacted when built, and serialised without a replacer", () => {
  for (const frozen of [true, false]) {
    it(`no token in any caller-controlled field reaches the line (${frozen ? "cached, frozen" : "fresh"} principal)`, async () => {
      const c = capture();
      stops.push(startAudit(c.sink, {}));
      const p = principal(frozen);
      publishAll(p);
      publishAll(p); // twice: the second time the frozen principal's fields come from the memo
      const text = await c.text();
      const lines = text.split("\n").filter(Boolean);
      expect(lines.length).toBe(16);
      expect(needles.length).toBeGreaterThan(20);
      for (const n of needles) expect(text, `token ${n} leaked`).not.toContain(n);
      expect(text).toContain("[REDACTED]");
      // Every record the subscribers built took the no-replacer path (none fell back to write()).
      expect(c.built.length).toBe(16);
    });
  }

  it("each built record serialises exactly as the redacting replacer would write it", async () => {
    const c = capture();
    stops.push(startAudit(c.sink, {}));
    publishAll(principal(true));
    await c.text();
    expect(c.built.length).toBe(8);
    for (const rec of c.built) expect(JSON.stringify(rec)).toBe(JSON.stringify(rec, redactingReplacer));
  });

  it("every field a record carries is classified, and each redacted one that held a token shows [REDACTED]", async () => {
    const c = capture();
    stops.push(startAudit(c.sink, {}));
    publishAll(principal(true));
    await c.text();
    const seen = new Set<string>();
    const redactedSeen = new Set<string>();
    for (const rec of c.built) {
      for (const [k, v] of Object.entries(rec)) {
        seen.add(k);
        expect(AUDIT_FIELDS, `field ${k} is not classified in AUDIT_FIELDS`).toHaveProperty([k]);
        if (JSON.stringify(v).includes("[REDACTED]")) redactedSeen.add(k);
      }
    }
    // Every field classified "redacted" was fed a token by some record above and showed [REDACTED] there,
    // except the two that only ever hold the gateway's own vocabulary here (stage name, error code).
    for (const [k, how] of Object.entries(AUDIT_FIELDS)) {
      if (how !== "redacted" || k === "mcp_gateway.refused_by" || k === "error.code") continue;
      expect(redactedSeen, `field ${k}`).toContain(k);
    }
    // The records above exercise every field the message and refusal paths can write.
    for (const k of [
      "user.id",
      "mcp_gateway.principal.iss",
      "mcp_gateway.principal.client_id",
      "mcp_gateway.principal.groups",
      "mcp_gateway.principal.scopes",
      "mcp_gateway.principal.amr",
      "client.address",
      "mcp_gateway.server",
      "gen_ai.tool.name",
      "gen_ai.prompt.name",
      "mcp.resource.uri",
      "mcp_gateway.target",
      "jsonrpc.request.id",
      "mcp.protocol.version",
      "mcp.session.id",
      "mcp_gateway.authz.reason",
      "mcp_gateway.authz.engine",
      "mcp_gateway.authz.revision",
      "mcp_gateway.authz.action",
      "mcp.task.id",
      "mcp_gateway.workflow.id",
      "http.request.method",
      "url.path",
    ]) {
      expect(seen, k).toContain(k);
    }
  });

  it("a custom sink without writeRedacted still gets every record through write()", async () => {
    const got: unknown[] = [];
    const sink: AuditSink = { write: (r) => got.push(r), flush: async () => {}, close: async () => {}, dropped: 0 };
    stops.push(startAudit(sink, {}));
    publishAll(principal(true));
    expect(got.length).toBe(8);
  });

  it("records from outside (governance) still go through the replacer", async () => {
    const lines: string[] = [];
    const s = createAuditSink({ stream: collect(lines), flushIntervalMs: 0 });
    s.write({ "event.action": "tool.changed", note: `Bearer ${"k".repeat(20)}`, password: "hunter2" } as never);
    await s.close();
    const rec = JSON.parse(lines.join("")) as Record<string, string>;
    expect(rec.note).toBe("Bearer [REDACTED]");
    expect(rec.password).toBe("[REDACTED]");
  });
});
