// Acceptance (ARCHITECTURE.md invariants 1, 2, 4 and the session binding of issue 3): one gateway with
// the whole stack, started from YAML — real IdP tokens, an API key, the default policy, backend
// credentials from a real OpenBao (KV v2) injected into an HTTP and a stdio backend, audit to a file,
// telemetry with OTLP to a loopback receiver and Prometheus on. A real session is driven through it;
// then everything the gateway wrote is scanned for secrets.

import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Receiver, startReceiver } from "../../../otel/test/helpers/otlp-receiver.ts";
import { hashApiKey } from "../../src/filters/authn/api-keys.ts";
import { type BaoDev, findBao, startBao } from "../credentials/bao.ts";
import { assertNoSecrets, findSecrets } from "../credentials/secret-scan.ts";
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

const rand = (p: string) => `${p}-${randomBytes(12).toString("hex")}`;
const SESSION_KEY = rand("session-key-material-acceptance");
const SN_TOKEN = rand("vault-servicenow-token");
const BRIDGE_KEY = rand("vault-bridge-api-key");
const API_KEY = `mgw_${randomBytes(24).toString("base64url")}`;
const CALLER_COOKIE = rand("caller-cookie");
/** Argument values: not configured for recording, so they must appear nowhere the gateway writes. */
const ARGS = {
  read: rand("arg-read"),
  write: rand("arg-write"),
  denied: rand("arg-denied"),
  stepUp: rand("arg-stepup"),
  stdio: rand("arg-stdio"),
};

// A stdio MCP backend: its one tool writes the environment it was started with to a file (so no
// secret travels back through the gateway in a result).
const STDIO_CHILD = `
const fs = require("node:fs");
const out = process.argv[2];
const rl = require("node:readline").createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  let result;
  if (m.method === "initialize")
    result = { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "bridge", version: "1" } };
  else if (m.method === "tools/list")
    result = { tools: [{ name: "env", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } }] };
  else if (m.method === "tools/call") {
    fs.writeFileSync(out, JSON.stringify(process.env));
    result = { content: [{ type: "text", text: "env written" }] };
  } else result = {};
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result }) + "\\n");
});
`;

let dir: string;
let bao: BaoDev;
let vaultToken: string;
let idp: Idp;
let rx: Receiver;
let servicenow: Backend;
let catalyst: Backend;
let gw: StartedGateway;
let closed = false;
const tokens: Record<string, string> = {};
/** Decision-log lines (the authz default sink writes JSON lines to stdout). */
const stdoutLines: string[] = [];
const realStdoutWrite = process.stdout.write.bind(process.stdout);
/** Everything the gateway sent back to a client: bodies, error messages, headers. */
const toClient: unknown[] = [];
const sessionIds: string[] = [];
let metricsText = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "acceptance-sec-"));
  writeFileSync(join(dir, "bridge.cjs"), STDIO_CHILD);
  const baoBin = findBao();
  if (!baoBin) throw new Error("bao binary not found (PATH, $BAO_BIN, .cache/tools/bin/bao)");
  [bao, idp, rx, servicenow, catalyst] = await Promise.all([
    startBao(baoBin),
    startIdp({ accounts: idpAccounts() }),
    startReceiver(),
    startBackend("servicenow", { extraTools: true }),
    startBackend("catalyst-center"),
  ]);
  // Least privilege: the gateway's Vault token may read api/* and nothing else.
  await bao.api("PUT", "sys/policies/acl/gateway", { policy: 'path "secret/data/api/*" { capabilities = ["read"] }' });
  vaultToken = (await bao.api("POST", "auth/token/create", { policies: ["gateway"], ttl: "1h" })).body.auth.client_token;
  await bao.api("POST", "secret/data/api/servicenow", { data: { token: SN_TOKEN } });
  await bao.api("POST", "secret/data/api/rest-bridge", { data: { key: BRIDGE_KEY } });

  // Spans leave the batch processor quickly (the SDK reads OTEL_BSP_* from process.env).
  process.env.OTEL_BSP_SCHEDULE_DELAY = "50";
  // The decision log's default sink is stdout: capture it (and keep vitest's output clean).
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const s = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    for (const l of s.split("\n")) if (l) stdoutLines.push(l);
    const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;

  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
sessions:
  key: \${env:SESSION_KEY}
logging: { level: debug }
auth:${issuerYaml(idp)}
  apiKeys:
    - id: ci-bot
      sha256: ${hashApiKey(API_KEY)}
      subject: ci-bot
      groups: [service-desk]
authz:
  engine: { type: wasm, watch: false }
vault:
  address: ${bao.address}
  auth: { method: token, token: "\${env:VAULT_TOKEN}" }
servers:
  servicenow:
    url: ${servicenow.url}
    credentials:
      from: { vault: { path: api/servicenow } }
      inject: { headers: { Authorization: "Bearer {token}" } }
      required: true
  catalyst-center:
    url: ${catalyst.url}
  rest-bridge:
    command: ${process.execPath}
    args: [${join(dir, "bridge.cjs")}, ${join(dir, "child-env.json")}]
    credentials:
      from: { vault: { path: api/rest-bridge } }
      inject: { env: { BRIDGE_API_KEY: "{key}" } }
telemetry:
  enabled: true
  serviceName: acceptance-gateway
  otlp: { endpoint: "${rx.url}", metricsIntervalMs: 1000 }
  prometheus: { enabled: true }
  audit: { sink: file, path: ${join(dir, "audit.log")} }
`;
  gw = await startFromYaml(yaml, { baseDir: dir, env: { SESSION_KEY, VAULT_TOKEN: vaultToken } });
  for (const a of [account("service-desk", true), account("service-desk", false), account("admin", true), account("developers", true)]) {
    tokens[a] = await userToken(idp, a, gw.url);
  }
});

afterAll(async () => {
  process.stdout.write = realStdoutWrite;
  if (!closed) await gw?.close();
  await Promise.all([servicenow?.close(), catalyst?.close(), rx?.close(), idp?.close(), bao?.stop()]);
  delete process.env.OTEL_BSP_SCHEDULE_DELAY;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The SDK client as a user's agent: its bearer token plus a browser-ish cookie on every request. */
async function client(route: string, acct: string): Promise<Client> {
  const c = new Client({ name: "acceptance-agent", version: "1" });
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`), {
    requestInit: { headers: { authorization: `Bearer ${tokens[acct]}`, cookie: `sid=${CALLER_COOKIE}` } },
  });
  await c.connect(transport);
  if (transport.sessionId) sessionIds.push(transport.sessionId);
  return c;
}

async function record<T>(p: Promise<T>): Promise<T | Error> {
  try {
    const v = await p;
    toClient.push(v);
    return v;
  } catch (e) {
    toClient.push(e);
    return e as Error;
  }
}

/** Raw request whose whole reply (status, headers, body) is kept for the scan. */
async function raw(url: string, body: unknown, headers: Record<string, string>) {
  const r = await post(url, body, { cookie: `sid=${CALLER_COOKIE}`, ...headers });
  const m = await messages(r);
  toClient.push(m.text, Object.fromEntries(r.headers));
  return { status: r.status, headers: r.headers, ...m };
}

describe("a real session through the whole stack", () => {
  it("initialize, lists, allowed and denied calls, a backend error, progress — over HTTP and stdio backends", async () => {
    const sd = await client("servicenow", account("service-desk", true));
    try {
      expect((await sd.listTools()).tools.map((t) => t.name).sort()).toEqual(
        ["count", "create_incident", "fail", "get_incident", "run_workflow"].sort(),
      );
      expect(await record(sd.callTool({ name: "get_incident", arguments: { text: ARGS.read } }))).toMatchObject({
        content: [{ text: "servicenow:get_incident ok" }],
      });
      expect(await record(sd.callTool({ name: "create_incident", arguments: { text: ARGS.write } }))).toMatchObject({
        content: [{ text: "servicenow:create_incident ok" }],
      });
      const progress: number[] = [];
      expect(
        await record(sd.callTool({ name: "count", arguments: { n: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) })),
      ).toMatchObject({
        content: [{ text: "counted to 3" }],
      });
      expect(progress).toEqual([1, 2, 3]);
      // Backend errors: a tool error (isError) and a JSON-RPC error (unknown resource).
      expect(await record(sd.callTool({ name: "fail", arguments: {} }))).toMatchObject({ isError: true });
      expect(await record(sd.readResource({ uri: "servicenow://nope" }))).toBeInstanceOf(Error);
    } finally {
      await sd.close();
    }

    // Denied: service-desk may only read on catalyst-center.
    const ro = await client("catalyst-center", account("service-desk", true));
    try {
      expect((await ro.listTools()).tools.map((t) => t.name).sort()).toEqual(["get_devices", "get_sites"]);
      const denied = await record(ro.callTool({ name: "update_site", arguments: { site: ARGS.denied } }));
      expect(denied).toBeInstanceOf(Error);
      expect((denied as { code?: number }).code).toBe(-32080);
    } finally {
      await ro.close();
    }

    // Step-up: a write without MFA, raw so the challenge is visible.
    const pwd = { authorization: `Bearer ${tokens[account("service-desk", false)]}` };
    const url = `${gw.url}/mcp/servicenow`;
    const sid = await openSession(url, pwd);
    sessionIds.push(sid);
    const sh = { ...pwd, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    await raw(url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, sh);
    const step = await raw(
      url,
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "create_incident", arguments: { text: ARGS.stepUp } } },
      sh,
    );
    expect(step.status).toBe(401);
    expect(step.headers.get("www-authenticate")).toMatch(/insufficient_user_authentication/);

    // A machine client with an API key.
    const bot = { authorization: `Bearer ${API_KEY}` };
    const botSid = await openSession(`${gw.url}/mcp/catalyst-center`, bot);
    sessionIds.push(botSid);
    const botList = await raw(
      `${gw.url}/mcp/catalyst-center`,
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      {
        ...bot,
        "mcp-session-id": botSid,
        "mcp-protocol-version": "2025-06-18",
      },
    );
    expect(botList.msgs[0]?.result).toMatchObject({ tools: [{ name: "get_devices" }, { name: "get_sites" }] });

    // stdio backend (developers own rest-bridge).
    const dev = await client("rest-bridge", account("developers", true));
    try {
      await dev.listTools();
      expect(await record(dev.callTool({ name: "env", arguments: { text: ARGS.stdio } }))).toMatchObject({
        content: [{ text: "env written" }],
      });
    } finally {
      await dev.close();
    }
  });

  it("HTTP backends got exactly the injected credential, never the caller's token or cookies", () => {
    const callerSecrets = [...Object.values(tokens), API_KEY, CALLER_COOKIE];
    expect(servicenow.seen.length).toBeGreaterThan(5);
    for (const s of servicenow.seen) {
      expect(s.headers.authorization).toBe(`Bearer ${SN_TOKEN}`);
      expect(s.headers.cookie).toBeUndefined();
    }
    expect(catalyst.seen.length).toBeGreaterThan(3);
    for (const s of catalyst.seen) {
      // No credentials configured for this backend: no Authorization at all.
      expect(s.headers.authorization).toBeUndefined();
      expect(s.headers.cookie).toBeUndefined();
    }
    assertNoSecrets(
      callerSecrets,
      [...servicenow.seen, ...catalyst.seen].map((s) => s.headers),
    );
  });

  it("the stdio backend got exactly the injected variable and nothing of the caller or the gateway", () => {
    const env = JSON.parse(readFileSync(join(dir, "child-env.json"), "utf8")) as Record<string, string>;
    expect(env.BRIDGE_API_KEY).toBe(BRIDGE_KEY);
    const { BRIDGE_API_KEY: _, ...rest } = env;
    assertNoSecrets([...Object.values(tokens), API_KEY, CALLER_COOKIE, vaultToken, SESSION_KEY, SN_TOKEN, bao.rootToken], [rest]);
    expect(Object.keys(env).filter((k) => /token|auth|cookie|vault|session/i.test(k))).toEqual([]);
  });

  it("a session id replayed with another user's token is an unknown session (404)", async () => {
    const url = `${gw.url}/mcp/servicenow`;
    const owner = { authorization: `Bearer ${tokens[account("service-desk", true)]}` };
    const sid = await openSession(url, owner);
    sessionIds.push(sid);
    const other = await raw(
      url,
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      {
        authorization: `Bearer ${tokens[account("admin", true)]}`,
        "mcp-session-id": sid,
        "mcp-protocol-version": "2025-06-18",
      },
    );
    expect(other.status).toBe(404);
    expect(other.msgs[0]?.error).toMatchObject({ code: -32001, data: { gatewayCode: "SESSION_NOT_FOUND" } });
    // The owner still can.
    const mine = await raw(
      url,
      { jsonrpc: "2.0", id: 3, method: "tools/list" },
      { ...owner, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
    );
    expect(mine.status).toBe(200);
  });

  it("a token that expires mid-session is refused on the next request", async () => {
    const url = `${gw.url}/mcp/servicenow`;
    const short = await idp.mintToken({
      sub: account("service-desk", true),
      aud: gw.url,
      claims: { groups: ["service-desk"], amr: ["pwd", "mfa"] },
      expiresIn: 2,
    });
    tokens.short = short;
    const h = { authorization: `Bearer ${short}` };
    const sid = await openSession(url, h);
    sessionIds.push(sid);
    const sh = { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
    expect((await raw(url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, sh)).status).toBe(200);
    const exp = (JSON.parse(Buffer.from(short.split(".")[1]!, "base64url").toString()) as { exp: number }).exp;
    const before = servicenow.seen.length;
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
    const late = await raw(
      url,
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "get_incident", arguments: { text: ARGS.read } } },
      sh,
    );
    expect(late.status).toBe(401);
    expect(late.headers.get("www-authenticate")).toMatch(/^Bearer .*error="invalid_token"/);
    expect(late.msgs[0]?.error).toMatchObject({ data: { gatewayCode: "INVALID_TOKEN" } });
    expect(servicenow.seen.length).toBe(before);
  });

  it("no secret anywhere the gateway wrote: logs, audit file, decision log, OTLP spans and metrics, /metrics, replies", async () => {
    metricsText = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metricsText).toMatch(/mcp_server_operation_duration/);
    // Close first: telemetry and audit flush everything they buffered.
    closed = true;
    await gw.close();

    const audit = readdirSync(dir)
      .filter((f) => f.startsWith("audit.log"))
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("\n");
    expect(audit.split("\n").filter(Boolean).length).toBeGreaterThan(10);
    // The gateway logs little per request (audit and decision log carry the per-message records).
    expect(gw.logs.some((l) => l.includes("stdio backend spawned"))).toBe(true);
    expect(gw.logs.some((l) => l.includes("token expired"))).toBe(true);
    expect(rx.spans.length).toBeGreaterThan(10);
    expect(rx.metricBodies.length).toBeGreaterThan(0);
    const decisionLog = stdoutLines.filter((l) => l.includes('"decision_id"'));
    expect(decisionLog.length).toBeGreaterThan(10);
    // The scan looks at real records: the denied call, the step-up and the spans of the session are there.
    expect(audit).toMatch(
      /"mcp_gateway.authz.decision":"deny".*"gen_ai.tool.name":"update_site"|"gen_ai.tool.name":"update_site".*"mcp_gateway.authz.decision":"deny"/,
    );
    expect(rx.spans.map((s) => s.name)).toEqual(
      expect.arrayContaining(["tools/call get_incident", "tools/call update_site", "tools/call env"]),
    );

    const secrets = [
      ...Object.values(tokens),
      API_KEY,
      CALLER_COOKIE,
      SN_TOKEN,
      BRIDGE_KEY,
      vaultToken,
      bao.rootToken,
      SESSION_KEY,
      ...Object.values(ARGS),
    ];
    const outputs = {
      logs: gw.logs.join("\n"),
      audit,
      decisionLog: decisionLog.join("\n"),
      otlp: rx.bodies.join("\n"),
      metrics: metricsText,
    };
    const findings = findSecrets(secrets, Object.values(outputs)).map(
      (f) => `${Object.keys(outputs)[f.outputIndex]}: secret #${f.secretIndex} (${f.variant})`,
    );
    expect(findings).toEqual([]);
    // Replies to clients: no secret of the gateway's, and no other caller's token (each client knows its own).
    assertNoSecrets([SN_TOKEN, BRIDGE_KEY, vaultToken, bao.rootToken, SESSION_KEY, API_KEY], toClient);
    // Raw session ids are bearer-like: audit records and spans carry a hash, never the id.
    assertNoSecrets(sessionIds, [outputs.logs, outputs.audit, outputs.otlp, outputs.metrics]);
  });

  // The authz decision log (OPA decision-log shape, stdout by default) records input.request.session
  // as the raw Mcp-Session-Id, while audit records and spans carry only a truncated SHA-256 of it.
  // Fix: gateway/src/filters/authz/filter.ts baseInput() (or the decision-log record builder in
  // decision-log.ts) should put the same hash as audit.ts hashSessionId() in the logged input
  // (policies must not depend on the raw id anyway).
  it("the decision log does not carry raw session ids either", () => {
    const decisionLog = stdoutLines.filter((l) => l.includes('"decision_id"'));
    assertNoSecrets(sessionIds, [decisionLog.join("\n")]);
  });
});
