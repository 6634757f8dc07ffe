// Human approval end to end through an authenticated gateway (API keys, the authn stage as configured): the
// default policy (built with the real `opa`, require_approval for deploy_*) marks a call; the gateway asks the
// calling user through MCP elicitation on the call's own stream; real SDK clients accept, decline, ignore it,
// or cannot be asked. Nothing unapproved reaches the backend.

import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type ElicitRequest, ElicitRequestSchema, type ElicitResult, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPolicyBundle } from "../../../policies/test/opa.ts";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { hashApiKey } from "../../src/filters/authn/api-keys.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { messagesOf, post, TEST_KEY } from "../helpers.ts";
import { type ChangingBackend, startChangingBackend } from "./backend.ts";

const USERS = ["alice", "bob", "carol", "dave", "erin", "mallory"];
/** One random API key per user (the gateway stores only its SHA-256). */
const KEYS = Object.fromEntries(USERS.map((u) => [u, randomBytes(24).toString("base64url")]));

const TIMEOUT_MS = 1500;
let dir: string;
let backend: ChangingBackend;
let gw: RunningGateway;
const audit = () => join(dir, "audit.jsonl");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "approval-"));
  // API-key callers have no MFA: the test policy asks approval instead of MFA for executes (the default policy
  // also names tools that need MFA whatever their action, deploy_template among them).
  const bundle = await buildPolicyBundle(dir, (c) => {
    c.require_approval = { "catalyst-center": ["deploy_*"] };
    c.mfa.actions = [];
    c.mfa.targets = {};
  });
  backend = await startChangingBackend();
  const tree = {
    listen: { host: "127.0.0.1", port: 0 },
    sessions: { key: TEST_KEY },
    logging: { level: "silent" },
    servers: { "catalyst-center": { url: backend.url } },
    auth: { apiKeys: USERS.map((u) => ({ id: `${u}-key`, sha256: hashApiKey(KEYS[u]!), subject: u, groups: ["admin"] })) },
    authz: { engine: { type: "wasm", bundle, watch: false }, decisionLog: { enabled: false } },
    governance: { approval: { timeoutMs: TIMEOUT_MS } },
    telemetry: { audit: { sink: "file", path: audit() } },
  };
  gw = await startConfiguredGateway(parseConfig(tree, dir), { baseDir: dir, logger: silentLogger });
}, 120_000);

afterAll(async () => {
  await gw?.close();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Handler = (req: ElicitRequest, extra: { signal: AbortSignal; requestId: string | number }) => Promise<ElicitResult>;

async function client(user: string, onElicit: Handler | undefined, legacy = false): Promise<Client> {
  const c = new Client({ name: "approval-e2e", version: "1" }, { capabilities: onElicit ? { elicitation: {} } : {} });
  if (onElicit) c.setRequestHandler(ElicitRequestSchema, (req, extra) => onElicit(req, extra));
  const f: typeof fetch = (input, init) => {
    const h = new Headers(init?.headers);
    h.set("authorization", `Bearer ${KEYS[user]}`);
    return fetch(input, { ...init, headers: h });
  };
  const url = new URL(`${gw.url}/mcp/catalyst-center${legacy ? "/sse" : ""}`);
  await c.connect(
    legacy
      ? new SSEClientTransport(url, { fetch: f, eventSourceInit: { fetch: f } })
      : new StreamableHTTPClientTransport(url, { fetch: f }),
  );
  return c;
}

const DEPLOY = { name: "deploy_template", arguments: { template: "core-v2", site: "paris" } };

async function refused(p: Promise<unknown>): Promise<McpError> {
  try {
    throw new Error(`expected a refusal, got ${JSON.stringify(await p)}`);
  } catch (e) {
    expect(e).toBeInstanceOf(McpError);
    return e as McpError;
  }
}

async function auditActions(): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(audit(), "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => String(r["event.action"]).startsWith("approval."));
}

describe("human approval (approval stage)", () => {
  it("accept: the user sees what will run, where, with which arguments; the call runs once accepted", async () => {
    const asked: ElicitRequest[] = [];
    const c = await client("alice", async (req) => {
      asked.push(req);
      return { action: "accept", content: { approve: true } };
    });
    try {
      const before = backend.calls.length;
      expect(await c.callTool(DEPLOY)).toMatchObject({ content: [{ text: "deployed core-v2 to paris" }] });
      expect(asked).toHaveLength(1);
      const p = asked[0]!.params as { message: string; requestedSchema: { properties: Record<string, unknown>; required: string[] } };
      expect(p.message).toContain("Tool: deploy_template");
      expect(p.message).toContain("Backend: catalyst-center");
      expect(p.message).toContain('Arguments: {"template":"core-v2","site":"paris"}');
      expect(p.requestedSchema.required).toEqual(["approve"]);
      expect(backend.calls.slice(before)).toEqual([{ tool: "deploy_template", args: DEPLOY.arguments }]);
      // A tool the policy does not mark is never asked about.
      expect(await c.callTool({ name: "echo", arguments: { text: "no question" } })).toMatchObject({ content: [{ text: "no question" }] });
      expect(asked).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it("decline, and accept without the yes: refused with APPROVAL_DECLINED, nothing reaches the backend", async () => {
    const answers: ElicitResult[] = [{ action: "decline" }, { action: "accept", content: { approve: false } }, { action: "cancel" }];
    const c = await client("bob", async () => answers.shift()!);
    try {
      const before = backend.calls.length;
      const declined = await refused(c.callTool(DEPLOY));
      expect(declined.code).toBe(-32073);
      expect(declined.data).toMatchObject({ gatewayCode: "APPROVAL_DECLINED", tool: "deploy_template" });
      expect(declined.message).toContain('the user answered "decline"');
      expect((await refused(c.callTool(DEPLOY))).message).toContain("did not confirm");
      expect((await refused(c.callTool(DEPLOY))).message).toContain('"cancel"');
      expect(backend.calls.length).toBe(before);
    } finally {
      await c.close();
    }
  });

  it("no answer within the bound: APPROVAL_TIMEOUT, and the client is told to stop asking (notifications/cancelled)", async () => {
    let aborted = false;
    const c = await client("carol", (_req, extra) => {
      return new Promise<ElicitResult>((resolve) => {
        extra.signal.addEventListener("abort", () => {
          aborted = true;
          resolve({ action: "cancel" });
        });
      });
    });
    try {
      const before = backend.calls.length;
      const t0 = Date.now();
      const e = await refused(c.callTool(DEPLOY, undefined, { timeout: 60_000 }));
      expect(e.code).toBe(-32074);
      expect(e.data).toMatchObject({ gatewayCode: "APPROVAL_TIMEOUT" });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(aborted).toBe(true);
      expect(backend.calls.length).toBe(before);
    } finally {
      await c.close();
    }
  });

  it("another session's answer cannot approve a call", async () => {
    const other = await client("mallory", undefined);
    // mallory's session id, to forge an answer with.
    const init = await post(
      `${gw.url}/mcp/catalyst-center`,
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      },
      { authorization: `Bearer ${KEYS.mallory}` },
    );
    await init.text();
    const forgerSession = init.headers.get("mcp-session-id")!;
    let forged = 0;
    const c = await client("dave", async (_req, extra) => {
      const r = await post(
        `${gw.url}/mcp/catalyst-center`,
        { jsonrpc: "2.0", id: extra.requestId, result: { action: "accept", content: { approve: true } } },
        { authorization: `Bearer ${KEYS.mallory}`, "mcp-session-id": forgerSession, "mcp-protocol-version": "2025-06-18" },
      );
      forged = r.status;
      await r.text();
      return { action: "decline" };
    });
    try {
      const before = backend.calls.length;
      expect((await refused(c.callTool(DEPLOY))).data).toMatchObject({ gatewayCode: "APPROVAL_DECLINED" });
      expect(forged).toBe(202); // taken and dropped: never relayed, never counted as dave's answer
      expect(backend.calls.length).toBe(before);
    } finally {
      await c.close();
      await other.close();
    }
  });

  it("clients that cannot be asked are refused with an error that says why", async () => {
    const plain = await client("erin", undefined);
    try {
      const e = await refused(plain.callTool(DEPLOY));
      expect(e.code).toBe(-32075);
      expect(e.data).toMatchObject({ gatewayCode: "APPROVAL_UNSUPPORTED" });
      expect(e.message).toContain("did not declare the elicitation capability");
    } finally {
      await plain.close();
    }
    const legacy = await client("erin", async () => ({ action: "accept", content: { approve: true } }), true);
    try {
      const e = await refused(legacy.callTool(DEPLOY));
      expect(e.data).toMatchObject({ gatewayCode: "APPROVAL_UNSUPPORTED" });
      expect(e.message).toContain("Streamable HTTP");
    } finally {
      await legacy.close();
    }
  });

  it("2026-07-28 has no server→client requests: refused, saying so, before anything reaches the backend", async () => {
    const before = backend.calls.length;
    const meta = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientCapabilities": { elicitation: {} },
    };
    const r = await post(
      `${gw.url}/mcp/catalyst-center`,
      { jsonrpc: "2.0", id: 5, method: "tools/call", params: { ...DEPLOY, _meta: meta } },
      {
        authorization: `Bearer ${KEYS.mallory}`,
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "deploy_template",
      },
    );
    const [m] = await messagesOf(r);
    const error = (m?.error ?? {}) as { message?: string };
    expect(error).toMatchObject({ code: -32075, data: { gatewayCode: "APPROVAL_UNSUPPORTED" } });
    expect(error.message).toContain("2026-07-28");
    expect(backend.calls.length).toBe(before);
  });

  it("every question and answer is audited with the user who was asked", async () => {
    const end = Date.now() + 10_000;
    let recs: Array<Record<string, unknown>> = [];
    while (Date.now() < end) {
      recs = await auditActions();
      if (recs.filter((r) => r["event.action"] === "approval.unsupported").length >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const by = (a: string) => recs.filter((r) => r["event.action"] === a).map((r) => r["user.id"]);
    expect(by("approval.accepted")).toEqual(["alice"]);
    expect(by("approval.declined")).toEqual(["bob", "bob", "bob", "dave"]);
    expect(by("approval.timeout")).toEqual(["carol"]);
    expect(by("approval.unsupported")).toEqual(["erin", "erin", "mallory"]);
    expect(by("approval.requested").length).toBe(9);
    expect(recs.find((r) => r["event.action"] === "approval.accepted")).toMatchObject({
      "gen_ai.tool.name": "deploy_template",
      "mcp_gateway.server": "catalyst-center",
      "event.outcome": "success",
    });
  });
});
