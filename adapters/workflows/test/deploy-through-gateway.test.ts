// The template deployment end to end: MCP SDK clients → gateway (API keys, audit) → workflows MCP
// server (MCP tasks) → real Temporal (Java test server) → worker process → ServiceNow and Catalyst
// Center fakes. Success, failure, worker killed and restarted, cancellation, other users refused.

import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, CreateTaskResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { type RunningGateway, startConfiguredGateway } from "../../../gateway/src/assemble.ts";
import { parseConfig } from "../../../gateway/src/config/load.ts";
import { hashApiKey } from "../../../gateway/src/filters/authn/api-keys.ts";
import { createLogger } from "../../../gateway/src/log/logger.ts";
import { workflowIdFor } from "../src/temporal-task-store.ts";
import { changes, type Harness, startHarness, templateId, until, type WorkerProcess, workNotes } from "./harness.ts";

const KEYS = { alice: `alice-${randomUUID()}`, bob: `bob-${randomUUID()}` };
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
let h: Harness;
let gw: RunningGateway;
let dir: string;
let worker: WorkerProcess;
const clients: Client[] = [];

beforeAll(async () => {
  h = await startHarness({ deploymentDurationMs: 1500 });
  worker = await h.startWorker();
  dir = mkdtempSync(join(tmpdir(), "workflows-gw-"));
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
sessions: { key: "workflows-test-session-key-0123456789abcdef" }
auth:
  apiKeys:
    - { id: alice-key, sha256: ${hashApiKey(KEYS.alice)}, subject: alice, groups: [network] }
    - { id: bob-key, sha256: ${hashApiKey(KEYS.bob)}, subject: bob, groups: [network] }
# Policy decisions on the workflows route are the policy bundle's business (policies/); this file is
# about task ownership, which holds with or without a policy engine.
authz: false
restBridge: { enabled: true }
servers:
  workflows: { url: "${h.workflows.url}" }
telemetry:
  enabled: false
  audit: { sink: file, path: ${join(dir, "audit.log")} }
`;
  const config = parseConfig(parseYaml(yaml), dir, { env: {} });
  gw = await startConfiguredGateway(config, { baseDir: dir, logger: createLogger({ level: "error" }) });
}, 180_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw?.close();
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function connect(user: keyof typeof KEYS, o: { traceparent?: string } = {}): Promise<Client> {
  const c = new Client({ name: `${user}-agent`, version: "1" });
  const headers: Record<string, string> = { authorization: `Bearer ${KEYS[user]}` };
  if (o.traceparent) headers.traceparent = o.traceparent;
  await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/workflows`), { requestInit: { headers } }));
  clients.push(c);
  return c;
}

function args(extra: Record<string, unknown> = {}) {
  return {
    idempotencyKey: `key-${randomUUID()}`,
    templateId: templateId(h.catalyst, "access-vlan"),
    targets: ["paris-access-01"],
    params: { vlan_id: "42", vlan_name: "lab" },
    ...extra,
  };
}

async function startTask(c: Client, a: Record<string, unknown>, onprogress?: (p: { progress: number }) => void) {
  return c.request(
    { method: "tools/call", params: { name: "deploy_template", arguments: a, task: { ttl: 600_000 } } },
    CreateTaskResultSchema,
    onprogress ? { onprogress } : undefined,
  );
}

async function finalTask(c: Client, taskId: string, timeoutMs = 60_000) {
  return until(
    `task ${taskId} to end`,
    async () => {
      const t = await c.experimental.tasks.getTask(taskId);
      return ["completed", "failed", "cancelled"].includes(t.status) ? t : undefined;
    },
    timeoutMs,
  );
}

function changeOf(workflowId: string) {
  return changes(h.servicenow).find((c) => c.correlation_id === workflowId);
}

/** Deployments Catalyst Center received since `mark()` (tests of this file run one at a time). */
let seen = 0;
function mark() {
  seen = h.catalyst.state.deployments.size;
}
function newDeployments() {
  return [...h.catalyst.state.deployments.values()].slice(seen);
}

function auditLines(): Array<Record<string, unknown>> {
  try {
    return readFileSync(join(dir, "audit.log"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
}

describe("deploy_template through the gateway", () => {
  it("lists the tool as task-capable and destructive", async () => {
    const c = await connect("alice");
    const { tools } = await c.listTools();
    const t = tools.find((x) => x.name === "deploy_template");
    expect(t?.execution?.taskSupport).toBe("optional");
    expect(t?.annotations).toMatchObject({ destructiveHint: true, readOnlyHint: false, idempotentHint: true });
    expect(c.getServerCapabilities()?.tasks).toMatchObject({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
  });

  it("runs as a task: change opened and closed successful, one deployment, audit links task, workflow and trace", async () => {
    const c = await connect("alice", { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` });
    const a = args();
    mark();
    const statuses: string[] = [];
    c.setNotificationHandler((await import("@modelcontextprotocol/sdk/types.js")).TaskStatusNotificationSchema, (n) => {
      statuses.push(n.params.status);
    });
    const progress: number[] = [];
    const created = await startTask(c, a, (p) => progress.push(p.progress));
    expect(created.task.status).toBe("working");
    const taskId = created.task.taskId;
    const done = await finalTask(c, taskId);
    expect(done.status).toBe("completed");
    const result = await c.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect(result.isError).toBe(false);
    const sc = result.structuredContent as Record<string, unknown>;
    expect(sc).toMatchObject({ outcome: "succeeded", deploymentStatus: "SUCCESS", templateName: "access-vlan" });
    expect(result._meta?.["io.modelcontextprotocol/related-task"]).toEqual({ taskId });

    const change = changeOf(taskId)!;
    expect(change).toMatchObject({ state: "3", close_code: "successful", type: "standard", number: sc.changeNumber });
    expect(change.close_notes).toContain("SUCCESS");
    expect(newDeployments()).toHaveLength(1);
    expect(workNotes(h.servicenow, change.sys_id!).join("\n")).toContain(String(sc.deploymentId));
    // The GET stream carried the terminal status notification.
    await until("a completed status notification", () => statuses.includes("completed") || undefined, 15_000);

    const rec = await until("the tools/call audit record", () =>
      auditLines().find((r) => r["mcp.method.name"] === "tools/call" && r["mcp.task.id"] === taskId),
    );
    expect(rec).toMatchObject({
      "user.id": "alice",
      "mcp_gateway.workflow.id": taskId,
      "trace.id": TRACE_ID,
      "gen_ai.tool.name": "deploy_template",
    });
    const getRec = auditLines().find((r) => r["mcp.method.name"] === "tasks/get" && r["mcp.task.id"] === taskId);
    expect(getRec?.["trace.id"]).toBe(TRACE_ID);
    expect(statuses.length).toBeGreaterThan(0);
    // The call's progress token stays valid for the task's lifetime: progress came after the CreateTaskResult.
    expect(progress.length).toBeGreaterThan(0);
  });

  it("a retried request with the same idempotency key joins the same task and never deploys twice", async () => {
    const c = await connect("alice");
    const a = args();
    mark();
    const first = await startTask(c, a);
    const second = await startTask(c, a);
    expect(second.task.taskId).toBe(first.task.taskId);
    await finalTask(c, first.task.taskId);
    const third = await startTask(c, a); // after the end as well
    expect(third.task.taskId).toBe(first.task.taskId);
    expect(third.task.status).toBe("completed");
    expect(newDeployments()).toHaveLength(1);
    expect(changes(h.servicenow).filter((x) => x.correlation_id === first.task.taskId)).toHaveLength(1);
    // The same key with other arguments is refused, not joined.
    const other = await c.callTool({ name: "deploy_template", arguments: { ...a, targets: ["paris-core-01"] } });
    expect(other.isError).toBe(true);
    expect(JSON.stringify(other.content)).toContain("different arguments");
  });

  it("without task support: a synchronous call with progress notifications", async () => {
    const c = await connect("alice");
    const progress: number[] = [];
    const result = await c.callTool({ name: "deploy_template", arguments: args() }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p.progress),
      timeout: 60_000,
    });
    expect(result.isError).toBe(false);
    expect(result.structuredContent).toMatchObject({ outcome: "succeeded" });
    expect(progress.length).toBeGreaterThan(0);
    expect([...progress].sort((x, y) => x - y)).toEqual(progress);
  });

  it("a synchronous call cancelled by its client cancels the deployment", async () => {
    h.catalyst.setDeploymentDuration(60_000);
    try {
      const c = await connect("alice");
      const a = args();
      mark();
      const ac = new AbortController();
      const call = c.callTool({ name: "deploy_template", arguments: a }, CallToolResultSchema, { signal: ac.signal, timeout: 60_000 });
      await until("the deployment to start", () => (newDeployments().length > 0 ? true : undefined));
      ac.abort("user pressed stop");
      await expect(call).rejects.toThrow();
      // The workflow of the call is the one of its idempotency key.
      const handle = h.client.workflow.getHandle(workflowIdFor(a.idempotencyKey));
      await until("the workflow to end cancelled", async () => ((await handle.describe()).status.name === "CANCELLED" ? true : undefined));
      expect(changeOf(workflowIdFor(a.idempotencyKey))).toMatchObject({ state: "4", close_code: "unsuccessful" });
    } finally {
      h.catalyst.setDeploymentDuration(1500);
    }
  }, 90_000);

  it("a failing deployment: task failed, change closed unsuccessful with the failure", async () => {
    h.catalyst.setFailDeployments(new Set(["paris-access-02"]));
    try {
      const c = await connect("alice");
      const a = args({ targets: ["paris-access-02"] });
      mark();
      const { task } = await startTask(c, a);
      const done = await finalTask(c, task.taskId);
      expect(done.status).toBe("failed");
      const result = await c.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
      expect(result.isError).toBe(true);
      expect(result.structuredContent).toMatchObject({ outcome: "failed", deploymentStatus: "FAILURE" });
      const change = changeOf(task.taskId)!;
      expect(change).toMatchObject({ state: "3", close_code: "unsuccessful", active: "false" });
      expect(change.close_notes).toContain("FAILURE");
    } finally {
      h.catalyst.setFailDeployments(false);
    }
  });

  it("transient backend failures are retried with backoff: ServiceNow rate-limiting the first attempt", async () => {
    const c = await connect("alice");
    // The client itself retries a 429 three times; six in a row make the first activity attempt fail.
    h.servicenow.rateLimitNext(6, 0);
    const { task } = await startTask(c, args());
    expect((await finalTask(c, task.taskId)).status).toBe("completed");
    const history = await h.client.workflow.getHandle(task.taskId).fetchHistory();
    const attempts = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes?.attempt)
      .filter((a): a is number => typeof a === "number");
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
    expect(changes(h.servicenow).filter((x) => x.correlation_id === task.taskId)).toHaveLength(1);
    expect(changeOf(task.taskId)).toMatchObject({ state: "3", close_code: "successful" });
  });

  it("invalid targets fail validation before any change is opened", async () => {
    const c = await connect("alice");
    const { task } = await startTask(c, args({ targets: ["no-such-device"] }));
    const done = await finalTask(c, task.taskId);
    expect(done.status).toBe("failed");
    expect(done.statusMessage).toContain("unknown device no-such-device");
    expect(changeOf(task.taskId)).toBeUndefined();
    // Arguments that break the tool's input schema never reach it: the gateway's validation stage refuses
    // them, naming the failing path (docs/governance.md).
    await expect(
      c.callTool({ name: "deploy_template", arguments: { idempotencyKey: "short", templateId: "x", targets: [] } }),
    ).rejects.toMatchObject({ code: -32602, data: { gatewayCode: "ARGUMENTS_INVALID" } });
  });

  it("cancellation: the task reads cancelled, the change is canceled and records it", async () => {
    h.catalyst.setDeploymentDuration(60_000);
    try {
      const c = await connect("alice");
      const a = args();
      mark();
      const { task } = await startTask(c, a);
      await until("the deployment to start", () => (newDeployments().length > 0 ? true : undefined));
      const cancelled = await c.experimental.tasks.cancelTask(task.taskId);
      expect(cancelled.status).toBe("cancelled");
      expect((await c.experimental.tasks.getTask(task.taskId)).status).toBe("cancelled");
      const change = await until("the change to be canceled", () => {
        const x = changeOf(task.taskId);
        return x?.state === "4" ? x : undefined;
      });
      expect(change.close_code).toBe("unsuccessful");
      expect(workNotes(h.servicenow, change.sys_id!).join("\n")).toMatch(/Cancellation requested/);
      // A terminal task cannot be cancelled again (-32602).
      await expect(c.experimental.tasks.cancelTask(task.taskId)).rejects.toMatchObject({ code: -32602 });
    } finally {
      h.catalyst.setDeploymentDuration(1500);
    }
  });

  it("another user cannot get, read, cancel or list the task, nor join it by reusing its key", async () => {
    h.catalyst.setDeploymentDuration(8000);
    try {
      const alice = await connect("alice");
      const bob = await connect("bob");
      const a = args();
      mark();
      const { task } = await startTask(alice, a);
      for (const attempt of [
        () => bob.experimental.tasks.getTask(task.taskId),
        () => bob.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema),
        () => bob.experimental.tasks.cancelTask(task.taskId),
      ]) {
        const e = await attempt().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(McpError);
        expect((e as McpError).code).toBe(-32602);
        expect((e as McpError).message).toContain("Task not found");
      }
      expect((await bob.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).not.toContain(task.taskId);
      expect((await alice.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(task.taskId);
      // Bob's own call with Alice's key would name Alice's task: refused the same way.
      await expect(startTask(bob, a)).rejects.toMatchObject({ code: -32602 });
      // Still running and still Alice's.
      expect((await alice.experimental.tasks.getTask(task.taskId)).status).toBe("working");
      expect(newDeployments()).toHaveLength(1);
      const refused = auditLines().filter((r) => r["user.id"] === "bob" && r["mcp.task.id"] === task.taskId);
      expect(refused.some((r) => r["error.code"] === "TASK_NOT_FOUND")).toBe(true);
      expect((await finalTask(alice, task.taskId)).status).toBe("completed");
    } finally {
      h.catalyst.setDeploymentDuration(1500);
    }
  });

  it("the REST bridge starts the deployment (Prefer: respond-async) and polls it; the status URL is its caller's", async () => {
    const a = args();
    mark();
    const post = await fetch(`${gw.url}/api/v1/mcp/workflows/tools/deploy_template`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS.alice}`, "content-type": "application/json", prefer: "respond-async" },
      body: JSON.stringify({ arguments: a }),
    });
    expect(post.status).toBe(202);
    const started = (await post.json()) as { taskId: string; statusUrl: string };
    expect(started.taskId).toBe(workflowIdFor(a.idempotencyKey));
    const other = await fetch(`${gw.url}${started.statusUrl}`, { headers: { authorization: `Bearer ${KEYS.bob}` } });
    expect(other.status).toBe(404);
    expect(JSON.stringify(await other.json())).not.toContain("access-vlan");
    const done = await until("the bridge's status URL to answer 200", async () => {
      const r = await fetch(`${gw.url}${started.statusUrl}`, { headers: { authorization: `Bearer ${KEYS.alice}` } });
      if (r.status === 202) {
        await r.body?.cancel();
        return undefined;
      }
      return r;
    });
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ outcome: "succeeded", deploymentStatus: "SUCCESS" });
    expect(newDeployments()).toHaveLength(1);
    expect(changeOf(started.taskId)).toMatchObject({ state: "3", close_code: "successful" });
  });

  it("a worker killed mid-deployment and restarted: the workflow completes, nothing done twice", async () => {
    h.catalyst.setDeploymentDuration(6000);
    try {
      const c = await connect("alice");
      const a = args();
      mark();
      const { task } = await startTask(c, a);
      // Killed while it follows the deployment (the long part): the deploy call itself is never repeated.
      await until("the deployment to be polled", async () => ((await h.store.progress(task.taskId))?.polls ?? 0) >= 1 || undefined);
      expect(newDeployments()).toHaveLength(1);
      worker.proc.kill("SIGKILL");
      await worker.exited;
      worker = await h.startWorker();
      const done = await finalTask(c, task.taskId, 90_000);
      expect(done.status).toBe("completed");
      expect(newDeployments()).toHaveLength(1);
      expect(changes(h.servicenow).filter((x) => x.correlation_id === task.taskId)).toHaveLength(1);
      expect(changeOf(task.taskId)).toMatchObject({ state: "3", close_code: "successful" });
    } finally {
      h.catalyst.setDeploymentDuration(1500);
    }
  }, 150_000);

  it("the worker shuts down gracefully on SIGTERM", async () => {
    worker.proc.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.output.some((l) => l.includes("deployment worker stopped"))).toBe(true);
    worker = await h.startWorker();
  }, 120_000);
});
