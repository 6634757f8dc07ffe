// The real pieces of the workflow tests: the Temporal Java test server (private network namespace),
// the ServiceNow and Catalyst Center fakes, the worker as a child process, the workflows MCP server.

import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type CatalystFake, startCatalystFake } from "@mcp-edge/adapter-catalyst-center/fake";
import { type ServiceNowFake, startServiceNowFake } from "@mcp-edge/adapter-servicenow/fake";
import { Client, Connection } from "@temporalio/client";
import { createWorkflowsServer } from "../src/deploy-tool.ts";
import { type RunningHttp, serveWorkflowsHttp } from "../src/serve-http.ts";
import { TemporalTaskStore } from "../src/temporal-task-store.ts";
import { startTemporalTestServer, type TemporalTestServer } from "../src/testing/temporal-test-server.ts";

const WORKER_MAIN = fileURLToPath(new URL("../src/worker-main.ts", import.meta.url));

export interface WorkerProcess {
  readonly proc: ChildProcess;
  readonly output: string[];
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
}

export interface Harness {
  temporal: TemporalTestServer;
  servicenow: ServiceNowFake;
  catalyst: CatalystFake;
  connection: Connection;
  client: Client;
  store: TemporalTaskStore;
  workflows: RunningHttp;
  workerEnv: NodeJS.ProcessEnv;
  startWorker(): Promise<WorkerProcess>;
  close(): Promise<void>;
}

/** Wait for a condition (bounded), never a fixed sleep. */
export async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startHarness(o: { deploymentDurationMs?: number; syncTimeoutMs?: number } = {}): Promise<Harness> {
  // The opt-in suite (scripts/test-temporal-cli.sh) points the tests at a real Temporal server instead.
  const external = process.env.WORKFLOWS_TEMPORAL_ADDRESS;
  const temporal: TemporalTestServer = external ? { address: external, close: async () => {} } : await startTemporalTestServer();
  // One task queue per harness: workers of other test files (same server) never take these workflows.
  const taskQueue = `deployments-${randomUUID()}`;
  const servicenow = await startServiceNowFake();
  const catalyst = await startCatalystFake({ deploymentDurationMs: o.deploymentDurationMs ?? 1500 });
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const store = new TemporalTaskStore({ client, taskQueue, pollIntervalMs: 200 });
  const workflows = await serveWorkflowsHttp(() =>
    createWorkflowsServer({ store, watchIntervalMs: 200, ...(o.syncTimeoutMs ? { syncTimeoutMs: o.syncTimeoutMs } : {}) }),
  );
  const workerEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    TEMPORAL_ADDRESS: temporal.address,
    WORKFLOWS_TASK_QUEUE: taskQueue,
    SERVICENOW_URL: servicenow.url,
    SERVICENOW_USERNAME: "admin",
    SERVICENOW_PASSWORD: "admin-password",
    CATALYST_CENTER_URL: catalyst.url,
    CATALYST_CENTER_USERNAME: "admin",
    CATALYST_CENTER_PASSWORD: "admin-password",
    WORKER_SHUTDOWN_GRACE_MS: "2000",
    // The Java test server never hands a killed worker's sticky workflow tasks back to the shared queue
    // (a real server does after the sticky schedule-to-start timeout): without a cache there are none.
    ...(external ? {} : { WORKER_MAX_CACHED_WORKFLOWS: "0" }),
  };
  const workers: WorkerProcess[] = [];
  const startWorker = async (): Promise<WorkerProcess> => {
    const proc = spawn(process.execPath, [WORKER_MAIN], { env: workerEnv, stdio: ["ignore", "pipe", "pipe"] });
    const output: string[] = [];
    const exited = new Promise<number | string>((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
    const collect = (d: Buffer) => {
      for (const l of d.toString().split("\n")) if (l) output.push(l);
    };
    proc.stdout!.on("data", collect);
    proc.stderr!.on("data", collect);
    const w = { proc, output, exited };
    workers.push(w);
    // The worker bundles the workflow code at start (webpack): generous on a busy machine.
    await until(
      "the worker to start",
      () => {
        if (proc.exitCode !== null) throw new Error(`worker exited: ${output.join("\n")}`);
        return output.some((l) => l.includes("deployment worker running")) || undefined;
      },
      90_000,
    );
    return w;
  };
  return {
    temporal,
    servicenow,
    catalyst,
    connection,
    client,
    store,
    workflows,
    workerEnv,
    startWorker,
    close: async () => {
      for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill("SIGKILL");
      await workflows.close();
      await connection.close();
      await Promise.all([servicenow.close(), catalyst.close()]);
      await temporal.close();
    },
  };
}

/** The change_request records of the ServiceNow fake. */
export function changes(sn: ServiceNowFake): Array<Record<string, string>> {
  return [...sn.store.table("change_request").values()];
}

/** The journal entries (work notes) of one record, oldest first. */
export function workNotes(sn: ServiceNowFake, sysId: string): string[] {
  return [...sn.store.table("sys_journal_field").values()]
    .filter((j) => j.element_id === sysId && j.element === "work_notes")
    .map((j) => j.value ?? "");
}

export function templateId(cc: CatalystFake, name: string): string {
  for (const t of cc.state.templates.values()) if (t.name === name) return t.id;
  throw new Error(`no template ${name}`);
}
