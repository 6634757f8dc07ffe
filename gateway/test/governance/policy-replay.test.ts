// `mcp-gateway policy replay`: a real gateway (committed wasm bundle, audit log to a file) records the
// decisions of real SDK clients; the log is replayed against the same bundle (nothing may change: the
// records hold the whole input) and against a modified policy built with the real `opa` binary.

import { execFileSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_PATH, findOpa, REGO_DIR } from "../../../policies/test/opa.ts";
import { startConfiguredGateway } from "../../src/assemble.ts";
import type { Filter } from "../../src/chain/types.ts";
import { runGovernanceCommand } from "../../src/cli-governance.ts";
import { parseConfig } from "../../src/config/load.ts";
import { silentLogger } from "../../src/log/logger.ts";
import type { ReplayReport } from "../../src/replay/policy-replay.ts";
import { TEST_KEY } from "../helpers.ts";
import { type ChangingBackend, startChangingBackend } from "./backend.ts";

/** Test-only authn: X-Test-Groups / X-Test-Amr → Principal (the authn stage has its own tests with real tokens). */
const headerAuthn: Filter = {
  name: "test-authn",
  stage: "authn",
  onRequest(ex) {
    const g = ex.headers["x-test-groups"];
    if (typeof g !== "string") return undefined;
    const amr = ex.headers["x-test-amr"];
    ex.principal = {
      sub: `user-${g}`,
      iss: "https://idp.test",
      groups: g.split(","),
      scopes: ["mcp"],
      amr: typeof amr === "string" ? amr.split(",") : ["pwd"],
      claims: { email: "someone@example.com" },
    };
    return undefined;
  },
};

let dir: string;
let backend: ChangingBackend;
let newBundle: string;
const audit = () => join(dir, "audit.jsonl");

async function as(groups: string, amr: string, f: (c: Client) => Promise<void>): Promise<void> {
  const c = new Client({ name: "replay", version: "1" });
  const fetchAs: typeof fetch = (input, init) => {
    const h = new Headers(init?.headers);
    h.set("x-test-groups", groups);
    h.set("x-test-amr", amr);
    return fetch(input, { ...init, headers: h });
  };
  try {
    await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp/catalyst-center`), { fetch: fetchAs }));
  } catch {
    return; // refused at initialize: recorded as a deny
  }
  try {
    await f(c);
  } finally {
    await c.close();
  }
}

let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "replay-"));
  backend = await startChangingBackend();
  const tree = {
    listen: { host: "127.0.0.1", port: 0 },
    sessions: { key: TEST_KEY },
    logging: { level: "silent" },
    servers: { "catalyst-center": { url: backend.url } },
    authz: { engine: { type: "wasm", watch: false }, decisionLog: { enabled: false } },
    telemetry: { audit: { sink: "file", path: audit(), recordArguments: true } },
  };
  const gw = await startConfiguredGateway(parseConfig(tree, dir), { baseDir: dir, logger: silentLogger, filters: [headerAuthn] });
  url = gw.url;
  try {
    await as("service-desk", "pwd", async (c) => {
      await c.listTools();
      await c.callTool({ name: "echo", arguments: { text: "read is fine" } });
      await c.callTool({ name: "deploy_template", arguments: { template: "t", site: "paris" } }).catch(() => {});
    });
    await as("admin", "pwd,mfa", async (c) => {
      await c.listTools();
      await c.callTool({ name: "deploy_template", arguments: { template: "t", site: "berlin" } });
    });
    await as("developers", "pwd", async () => {});
  } finally {
    await gw.close(); // flushes the audit file
  }

  // The reviewed change: service-desk loses catalyst-center, developers gain read on it, and deploys need approval.
  const rego = join(dir, "rego");
  await cp(REGO_DIR, rego, { recursive: true });
  const data = JSON.parse(await readFile(join(rego, "data.json"), "utf8"));
  const cfg = data.mcp.config;
  cfg.roles["service-desk"] = cfg.roles["service-desk"].filter((g: { server: string }) => g.server !== "catalyst-center");
  cfg.roles.developers.push({ server: "catalyst-center", actions: ["read"] });
  cfg.require_approval = { "catalyst-center": ["deploy_*"] };
  await writeFile(join(rego, "data.json"), JSON.stringify(data));
  newBundle = join(dir, "new.tar.gz");
  execFileSync(findOpa(), [
    "build",
    "-t",
    "wasm",
    "-e",
    "mcp/authz/decision",
    "-e",
    "mcp/authz/filter",
    "--ignore",
    "*_test.rego",
    "--revision",
    "candidate",
    "-o",
    newBundle,
    rego,
  ]);
}, 120_000);

afterAll(async () => {
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function replay(bundle: string, ...extra: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runGovernanceCommand(["policy", "replay", "--audit", audit(), "--bundle", bundle, ...extra], {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
  });
  return { code, out, err };
}

describe("policy replay", () => {
  it("the audit records hold the decision inputs: replaying with the enforced bundle changes nothing", async () => {
    const r = await replay(BUNDLE_PATH, "--json");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as ReplayReport;
    expect(report.replayed).toBeGreaterThanOrEqual(10);
    expect(report.counts).toMatchObject({ "allowed→denied": 0, "denied→allowed": 0, "approval added": 0, "approval removed": 0, error: 0 });
    expect(report.counts.unchanged).toBe(report.replayed);
    expect(report.missing.arguments ?? 0).toBe(0);
  });

  it("a modified policy: every allowed→denied, denied→allowed and new approval is reported with who, what and why", async () => {
    const r = await replay(newBundle, "--json");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as ReplayReport;
    expect(report.revision).toBe("candidate");
    const changes = report.decisions.map((d) => `${d.change} ${d.user} ${d.method} ${d.target ?? ""}`.trim());
    // service-desk: everything it did on catalyst-center is now denied (it had read only, and no grant means no session).
    expect(changes).toContain("allowed→denied user-service-desk initialize");
    expect(changes).toContain("allowed→denied user-service-desk tools/call echo");
    // service-desk's deploy was denied before and still is: not reported.
    expect(changes.some((c) => c.includes("service-desk tools/call deploy_template"))).toBe(false);
    // developers could not even initialize; now they can.
    expect(changes).toContain("denied→allowed user-developers initialize");
    // admin's deploy is still allowed, but now needs the user's approval.
    expect(changes).toContain("approval added user-admin tools/call deploy_template");
    const deploy = report.decisions.find((d) => d.change === "approval added")!;
    expect(deploy.recorded.revision).toMatch(/^sha256:/);
    expect(deploy.replayed).toMatchObject({ allow: true, requireApproval: true });

    const text = await replay(newBundle);
    expect(text.out).toMatch(/allowed→denied: \d+ +denied→allowed: 1 +approval added: 1/);
    expect(text.out).toContain("user-admin  tools/call deploy_template on catalyst-center");
    expect(text.out).toContain("now: granted by admin; needs the user's approval");
    // Never a secret: the replay prints no argument values and no claims.
    expect(text.out).not.toContain("someone@example.com");
  });

  it("garbage lines are skipped and counted; a bundle that cannot load is an error exit", async () => {
    const mixed = join(dir, "mixed.jsonl");
    await writeFile(mixed, `not json\n{"event.action":"tool.pinned"}\n\n${(await readFile(audit(), "utf8")).split("\n")[0]}\n`);
    let out = "";
    const code = await runGovernanceCommand(["policy", "replay", "--audit", mixed, "--bundle", BUNDLE_PATH, "--json"], {
      out: (s) => {
        out += s;
      },
      err: () => {},
    });
    expect(code).toBe(0);
    const report = JSON.parse(out) as ReplayReport;
    expect(report.skipped).toBe(2);
    expect(report.replayed).toBe(1);
    const bad = await replay(join(dir, "no-such-bundle.tar.gz"));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("cannot read policy bundle");
    const usage = await runGovernanceCommand(["policy", "replay", "--audit", audit()], { out: () => {}, err: () => {} });
    expect(usage).toBe(2);
  });
});
