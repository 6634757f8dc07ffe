// The credentials filter wired into the real gateway (listener, relay, upstreams) in front of
// recording backends: an HTTP backend sees exactly the injected credential on every request and
// never the caller's token or cookies; a stdio child gets exactly the injected environment. Per-user
// paths differ per caller; a crafted subject gets the documented error. Authentication is stubbed
// (X-Test-Sub → Principal) and secrets come from env/file sources, so this needs no IdP and no Vault.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Filter } from "../../src/chain/types.ts";
import { credentialsSchema } from "../../src/config/schema-credentials.ts";
import { type CredentialsFilter, createCredentialsFilter } from "../../src/filters/credentials/index.ts";
import { jsonLogger } from "../../src/logger.ts";
import { createSecretCache } from "../../src/secrets/from-config.ts";
import { messagesOf, post, startGateway, type TestGateway } from "../helpers.ts";
import { CALLER_COOKIE, CALLER_TOKEN } from "./exchange.ts";
import { OutputCapture } from "./secret-scan.ts";

const SN_TOKEN = "e2e-servicenow-token-4f1d2a9c";
const GH_ALICE = "e2e-github-alice-77ab01cd";
const GH_BOB = "e2e-github-bob-9e8d7c6b";
const TOOL_KEY = "e2e-stdio-tool-key-31c4d5e6";
const SECRETS = [SN_TOKEN, GH_ALICE, GH_BOB, TOOL_KEY, CALLER_TOKEN, CALLER_COOKIE];

/** Test-only authn: X-Test-Sub → Principal. */
const headerAuthn: Filter = {
  name: "test-authn",
  stage: "authn",
  onRequest(ex) {
    const sub = ex.headers["x-test-sub"];
    if (typeof sub === "string") ex.principal = { sub, iss: "https://idp.test", groups: [], scopes: [], amr: ["pwd"], claims: {} };
    return undefined;
  },
};

/** A minimal Streamable HTTP MCP backend that records the headers of every request. */
async function recordingBackend(): Promise<{ url: string; seen: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString("utf8");
    });
    req.on("end", () => {
      if (req.method !== "POST") {
        res.writeHead(405).end();
        return;
      }
      const msg = JSON.parse(body) as { id?: number | string; method?: string };
      if (msg.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      const result =
        msg.method === "initialize"
          ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "recorder", version: "1" } }
          : { tools: [] };
      res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "backend-session-1" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: msg.id, result }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

// A stdio MCP backend whose only tool returns the environment it was started with.
const STDIO_CHILD = `
const rl = require("node:readline").createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  const result = m.method === "initialize"
    ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "env", version: "1" } }
    : m.method === "tools/call" ? { content: [{ type: "text", text: JSON.stringify(process.env) }] } : { tools: [] };
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result }) + "\\n");
});
`;

let dir: string;
let backend: Awaited<ReturnType<typeof recordingBackend>>;
let gw: TestGateway;
let creds: CredentialsFilter;
const cap = new OutputCapture();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cred-e2e-"));
  mkdirSync(join(dir, "users"));
  writeFileSync(join(dir, "users", "alice.json"), JSON.stringify({ token: GH_ALICE }));
  writeFileSync(join(dir, "users", "bob.json"), JSON.stringify({ token: GH_BOB }));
  writeFileSync(join(dir, "env-child.cjs"), STDIO_CHILD);
  backend = await recordingBackend();
  const cache = await createSecretCache({}, { baseDir: dir, env: { SN_TOKEN, TOOL_KEY }, logger: jsonLogger("debug", cap.write) });
  creds = createCredentialsFilter({
    cache,
    logger: jsonLogger("debug", cap.write),
    servers: {
      servicenow: {
        transport: "streamable-http",
        credentials: credentialsSchema.parse({
          from: { env: { token: "SN_TOKEN" } },
          inject: { headers: { Authorization: "Bearer {token}" } },
          required: true,
          stripHeaders: ["traceparent"],
        }),
      },
      github: {
        transport: "streamable-http",
        credentials: credentialsSchema.parse({
          from: { file: "users/{sub}.json" },
          inject: { headers: { Authorization: "Bearer {token}" } },
        }),
      },
      tool: {
        transport: "stdio",
        credentials: credentialsSchema.parse({ from: { env: { key: "TOOL_KEY" } }, inject: { env: { TOOL_API_KEY: "{key}" } } }),
      },
    },
  });
  await creds.start();
  gw = await startGateway(
    {
      servicenow: { url: backend.url },
      github: { url: backend.url },
      tool: { command: process.execPath, args: [join(dir, "env-child.cjs")] },
    },
    {},
    { filters: [headerAuthn, creds] },
  );
});

afterAll(async () => {
  await gw?.close();
  await backend?.close();
  creds?.close();
  rmSync(dir, { recursive: true, force: true });
});

const CALLER_HEADERS = { authorization: `Bearer ${CALLER_TOKEN}`, cookie: CALLER_COOKIE, "x-test-sub": "alice" };
const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "cred-e2e", version: "1" } },
};

/** initialize + initialized + one request, all carrying the caller's own credentials. */
async function session(server: string, sub: string, request: Record<string, unknown>): Promise<Array<Record<string, unknown>>> {
  const url = `${gw.url}/mcp/${server}`;
  const h = { ...CALLER_HEADERS, "x-test-sub": sub };
  const r = await post(url, INIT, h);
  expect(r.status).toBe(200);
  cap.add(await r.clone().text());
  await r.text();
  const sid = r.headers.get("mcp-session-id")!;
  const more = { ...h, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
  await (await post(url, { jsonrpc: "2.0", method: "notifications/initialized" }, more)).text();
  const res = await post(url, request, more);
  const out = await messagesOf(res);
  cap.add(...out);
  return out;
}

describe("credentials through the real gateway", () => {
  it("HTTP backend: every upstream request carries exactly the injected credential, never the caller's", async () => {
    backend.seen.length = 0;
    const out = await session("servicenow", "alice", { jsonrpc: "2.0", id: 2, method: "tools/list" });
    expect(out[0]?.result).toEqual({ tools: [] });
    expect(backend.seen.length).toBeGreaterThanOrEqual(3);
    for (const h of backend.seen) {
      expect(h.authorization).toBe(`Bearer ${SN_TOKEN}`);
      expect(h.cookie).toBeUndefined();
      expect(h["x-test-sub"]).toBeUndefined();
      expect(JSON.stringify(h)).not.toContain(CALLER_TOKEN);
      expect(JSON.stringify(h)).not.toContain("caller-cookie");
    }
  });

  // stripHeaders must also cover the caller headers the relay forwards on its own (allow-list:
  // traceparent, mcp-param-*, …). The filter publishes its strip set under CREDENTIALS_STRIP; this
  // turns green (remove `.fails`) once relay.ts skips those names (docs/credentials.md, wiring).
  it("stripHeaders also removes a configured header the relay would forward (traceparent)", async () => {
    backend.seen.length = 0;
    const url = `${gw.url}/mcp/servicenow`;
    const tp = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
    const r = await post(url, INIT, { ...CALLER_HEADERS, ...tp });
    await r.text();
    expect(backend.seen.length).toBeGreaterThan(0);
    for (const h of backend.seen) expect(h.traceparent).toBeUndefined();
  });

  it("per-user credentials: each caller reaches the backend as themselves; a crafted subject is refused", async () => {
    backend.seen.length = 0;
    await session("github", "alice", { jsonrpc: "2.0", id: 2, method: "tools/list" });
    const alice = backend.seen.map((h) => h.authorization);
    backend.seen.length = 0;
    await session("github", "bob", { jsonrpc: "2.0", id: 2, method: "tools/list" });
    const bob = backend.seen.map((h) => h.authorization);
    expect(new Set(alice)).toEqual(new Set([`Bearer ${GH_ALICE}`]));
    expect(new Set(bob)).toEqual(new Set([`Bearer ${GH_BOB}`]));

    backend.seen.length = 0;
    const r = await post(`${gw.url}/mcp/github`, INIT, { ...CALLER_HEADERS, "x-test-sub": "../admin" });
    const text = await r.text();
    cap.add(text);
    expect(backend.seen).toHaveLength(0);
    expect(text).toContain("-32097");
    expect(text).toContain("CREDENTIALS_SUBJECT_REFUSED");
  });

  it("stdio backend: the child gets exactly the injected variable and nothing of the caller", async () => {
    const out = await session("tool", "alice", { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "env", arguments: {} } });
    const content = (out[0]!.result as { content: Array<{ text: string }> }).content[0]!.text;
    const env = JSON.parse(content) as Record<string, string>;
    expect(env.TOOL_API_KEY).toBe(TOOL_KEY);
    expect(Object.values(env).some((v) => v.includes(CALLER_TOKEN) || v.includes("caller-cookie"))).toBe(false);
    expect(env.SN_TOKEN).toBeUndefined(); // the gateway's own environment is not inherited
  });

  it("nothing the gateway logged contains a secret or the caller's credentials", () => {
    expect(gw.logs.length).toBeGreaterThan(0);
    // The stdio tool's answer (which echoes its environment back on purpose) is the only place the
    // injected key may appear; everything else is scanned for every secret.
    const logsAndErrors = [...gw.logs, ...cap.items.filter((o) => !JSON.stringify(o).includes("TOOL_API_KEY"))];
    const f = new OutputCapture();
    f.add(...logsAndErrors);
    f.assertClean(SECRETS);
  });
});
