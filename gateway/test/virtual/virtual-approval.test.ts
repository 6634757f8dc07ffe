// Human approval through a virtual server: the member's approval stage (policy built with the real `opa`,
// require_approval for deploy_*) asks the virtual server's caller through MCP elicitation; accept runs the call
// on the member, decline refuses it, a caller that cannot be asked is refused. Nothing unapproved runs.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type ElicitRequest, ElicitRequestSchema, type ElicitResult, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPolicyBundle } from "../../../policies/test/opa.ts";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ERRORS } from "../../src/errors.ts";
import { hashApiKey } from "../../src/filters/authn/api-keys.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { type ChangingBackend, startChangingBackend } from "../governance/backend.ts";
import { stdioDemo, TEST_KEY } from "../helpers.ts";

const KEY = randomBytes(24).toString("base64url");
let dir: string;
let backend: ChangingBackend;
let gw: RunningGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "virtual-approval-"));
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
    servers: { "catalyst-center": { url: backend.url }, devices: stdioDemo() },
    virtualServers: { ops: { servers: ["catalyst-center", "devices"] } },
    auth: { apiKeys: [{ id: "carol-key", sha256: hashApiKey(KEY), subject: "carol", groups: ["admin"] }] },
    authz: { engine: { type: "wasm", bundle, watch: false }, decisionLog: { enabled: false } },
    governance: { approval: { timeoutMs: 5000 } },
    telemetry: { audit: { enabled: false } },
  };
  gw = await startConfiguredGateway(parseConfig(tree, dir), { baseDir: dir, logger: silentLogger });
}, 120_000);

afterAll(async () => {
  await gw?.close();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function client(onElicit: ((req: ElicitRequest) => Promise<ElicitResult>) | undefined): Promise<Client> {
  const c = new Client({ name: "virtual-approval", version: "1" }, { capabilities: onElicit ? { elicitation: {} } : {} });
  if (onElicit) c.setRequestHandler(ElicitRequestSchema, (req) => onElicit(req));
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/ops`), { requestInit: { headers: { authorization: `Bearer ${KEY}` } } }),
  );
  await c.listTools();
  return c;
}

const DEPLOY = { name: "catalyst-center__deploy_template", arguments: { template: "core-v2", site: "paris" } };

async function refusal(p: Promise<unknown>): Promise<McpError> {
  try {
    throw new Error(`expected a refusal, got ${JSON.stringify(await p)}`);
  } catch (e) {
    expect(e).toBeInstanceOf(McpError);
    return e as McpError;
  }
}

describe("human approval through a virtual server", () => {
  it("the caller is asked about the member's real tool and backend; accept runs it, decline refuses it", async () => {
    const asked: ElicitRequest[] = [];
    let answer: ElicitResult["action"] = "accept";
    const c = await client(async (req) => {
      asked.push(req);
      return { action: answer, content: answer === "accept" ? { approve: true } : undefined } as ElicitResult;
    });
    try {
      const before = backend.calls.length;
      const ran = await c.callTool(DEPLOY);
      expect(JSON.stringify(ran.content)).toContain("deployed core-v2 to paris");
      expect(asked).toHaveLength(1);
      // The approval names what the member's chain saw: the member route and the member's own tool name.
      expect(JSON.stringify(asked[0]!.params)).toContain("deploy_template");
      expect(JSON.stringify(asked[0]!.params)).toContain("catalyst-center");
      expect(backend.calls.slice(before)).toEqual([{ tool: "deploy_template", args: { template: "core-v2", site: "paris" } }]);
      answer = "decline";
      const declined = await refusal(c.callTool(DEPLOY));
      expect(declined.code).toBe(ERRORS.APPROVAL_DECLINED.rpc);
      expect(backend.calls.length).toBe(before + 1);
    } finally {
      await c.close();
    }
  }, 60_000);

  it("a caller that cannot be asked is refused, and nothing runs", async () => {
    const c = await client(undefined);
    try {
      const before = backend.calls.length;
      const e = await refusal(c.callTool(DEPLOY));
      expect(e.code).toBe(ERRORS.APPROVAL_UNSUPPORTED.rpc);
      expect(backend.calls.length).toBe(before);
    } finally {
      await c.close();
    }
  }, 60_000);
});
