// The task-binding filter in process: a task belongs to the principal whose tools/call created it, in
// every protocol era; get/result/cancel of another's or an unknown task read "not found"; tasks/list and
// task notifications only show the caller's own; memory is bounded overall and per principal.

import { describe, expect, it } from "vitest";
import type { Exchange, LocalReply } from "../../src/chain/types.ts";
import { type RpcMessage, toMessage } from "../../src/codec/jsonrpc.ts";
import { ERRORS } from "../../src/errors.ts";
import { createTaskBindingFilter, TaskBindings } from "../../src/filters/tasks/task-binding.ts";
import { taskFactsOf, WORKFLOW_ID_META } from "../../src/filters/tasks/task-facts.ts";
import { exchange, principal, request, response } from "../authz/exchange.ts";

const ERAS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];
const alice = principal(["network"], ["pwd"], "alice");
const bob = principal(["network"], ["pwd"], "bob");

function created(taskId: string): Record<string, unknown> {
  return { task: { taskId, status: "working", createdAt: "2026-12-08T00:00:00Z", lastUpdatedAt: "2026-12-08T00:00:00Z", ttl: 60000 } };
}

/** tools/call with a task, and the backend's CreateTaskResult through the response path. */
async function create(f: ReturnType<typeof createTaskBindingFilter>, ex: Exchange, taskId: string): Promise<RpcMessage | undefined> {
  const call = request("tools/call", { name: "deploy_template", arguments: {}, task: { ttl: 60000 } });
  expect(f.onMessage!(ex, call)).toBeUndefined();
  return f.onUpstreamMessage!(ex, response(call.id, created(taskId)), call);
}

function refusedCode(v: unknown): string | undefined {
  return (v as LocalReply | undefined)?.error.code;
}

describe.each(ERAS)("task binding (%s)", (era) => {
  it("the creator may get, read and cancel its task; another user and unknown ids read not found", async () => {
    const f = createTaskBindingFilter();
    const exA = exchange("workflows", alice, { protocolVersion: era });
    const exB = exchange("workflows", bob, { protocolVersion: era });
    const out = await create(f, exA, "task-1");
    expect(createdTaskId(out)).toBe("task-1");
    for (const method of ["tasks/get", "tasks/result", "tasks/cancel"]) {
      expect(f.onMessage!(exA, request(method, { taskId: "task-1" }))).toBeUndefined();
      expect(refusedCode(f.onMessage!(exB, request(method, { taskId: "task-1" })))).toBe("TASK_NOT_FOUND");
      expect(refusedCode(f.onMessage!(exA, request(method, { taskId: "task-unknown" })))).toBe("TASK_NOT_FOUND");
    }
    // The same id on another route is another task.
    expect(refusedCode(f.onMessage!(exchange("other", alice, { protocolVersion: era }), request("tasks/get", { taskId: "task-1" })))).toBe(
      "TASK_NOT_FOUND",
    );
  });

  it("tasks/list keeps only the caller's tasks; status and progress notifications reach only the owner", async () => {
    const f = createTaskBindingFilter();
    const exA = exchange("workflows", alice, { protocolVersion: era });
    const exB = exchange("workflows", bob, { protocolVersion: era });
    await create(f, exA, "a-1");
    await create(f, exB, "b-1");
    const list = request("tasks/list", {});
    const all = response(list.id, {
      tasks: [{ taskId: "a-1", status: "working" }, { taskId: "b-1", status: "working" }, { taskId: "c-1" }],
    });
    const forA = (await f.onUpstreamMessage!(exA, all, list))!.raw.result as { tasks: Array<{ taskId: string }> };
    expect(forA.tasks.map((t) => t.taskId)).toEqual(["a-1"]);
    const forB = (await f.onUpstreamMessage!(exB, all, list))!.raw.result as { tasks: Array<{ taskId: string }> };
    expect(forB.tasks.map((t) => t.taskId)).toEqual(["b-1"]);

    const status = toMessage({ jsonrpc: "2.0", method: "notifications/tasks/status", params: { taskId: "a-1", status: "completed" } });
    expect(await f.onUpstreamMessage!(exA, status, undefined)).toBe(status);
    expect(await f.onUpstreamMessage!(exB, status, undefined)).toBeUndefined();
    const progress = toMessage({
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: 1, progress: 50, _meta: { "io.modelcontextprotocol/related-task": { taskId: "a-1" } } },
    });
    expect(await f.onUpstreamMessage!(exB, progress, undefined)).toBeUndefined();
    // A progress notification of no task passes (ordinary requests' progress).
    const plain = toMessage({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 2, progress: 1 } });
    expect(await f.onUpstreamMessage!(exB, plain, undefined)).toBe(plain);
  });

  it("a backend answering a second user with a task the first one holds is refused, the task stays with its owner", async () => {
    const f = createTaskBindingFilter();
    const exA = exchange("workflows", alice, { protocolVersion: era });
    const exB = exchange("workflows", bob, { protocolVersion: era });
    await create(f, exA, "shared-key-task");
    const out = await create(f, exB, "shared-key-task");
    expect(out?.raw.error).toMatchObject({ code: ERRORS.TASK_NOT_FOUND.rpc, data: { gatewayCode: "TASK_NOT_FOUND" } });
    expect(f.onMessage!(exA, request("tasks/get", { taskId: "shared-key-task" }))).toBeUndefined();
    expect(refusedCode(f.onMessage!(exB, request("tasks/get", { taskId: "shared-key-task" })))).toBe("TASK_NOT_FOUND");
  });
});

function createdTaskId(m: RpcMessage | undefined): string | undefined {
  return ((m?.raw.result as Record<string, unknown> | undefined)?.task as { taskId?: string } | undefined)?.taskId;
}

describe("task binding: bad input", () => {
  it("a taskId that is missing, not a string or an object is refused as not found", () => {
    const f = createTaskBindingFilter();
    const ex = exchange("workflows", alice);
    for (const params of [{}, { taskId: 42 }, { taskId: { $ne: "" } }, { taskId: null }, undefined]) {
      expect(refusedCode(f.onMessage!(ex, request("tasks/get", params as Record<string, unknown> | undefined)))).toBe("TASK_NOT_FOUND");
    }
  });

  it("same issuer and subject is the same owner; another issuer with the same subject is not", async () => {
    const f = createTaskBindingFilter();
    await create(f, exchange("workflows", alice), "t");
    expect(f.onMessage!(exchange("workflows", { ...alice, groups: [] }), request("tasks/get", { taskId: "t" }))).toBeUndefined();
    expect(
      refusedCode(f.onMessage!(exchange("workflows", { ...alice, iss: "https://other.test" }), request("tasks/get", { taskId: "t" }))),
    ).toBe("TASK_NOT_FOUND");
    // Without authentication, the anonymous caller owns nothing an authenticated one created.
    expect(refusedCode(f.onMessage!(exchange("workflows", undefined), request("tasks/get", { taskId: "t" })))).toBe("TASK_NOT_FOUND");
  });

  it("responses that are not task results, errors and other methods pass untouched", async () => {
    const f = createTaskBindingFilter();
    const ex = exchange("workflows", alice);
    const call = request("tools/call", { name: "x" });
    const plain = response(call.id, { content: [] });
    expect(await f.onUpstreamMessage!(ex, plain, call)).toBe(plain);
    const err = toMessage({ jsonrpc: "2.0", id: call.id, error: { code: -32602, message: "bad" } });
    expect(await f.onUpstreamMessage!(ex, err, call)).toBe(err);
    expect(f.onMessage!(ex, request("tools/list"))).toBeUndefined();
    expect(f.bindings.size).toBe(0);
  });
});

describe("task binding: bounded memory", () => {
  it("keeps at most maxTasksPerPrincipal per principal (oldest forgotten) and maxTasks in all", () => {
    const b = new TaskBindings({ maxTasks: 50, maxTasksPerPrincipal: 10 });
    for (let i = 0; i < 25; i++) expect(b.bind("s", `a-${i}`, "alice")).toBe(true);
    expect(b.size).toBe(10);
    expect(b.ownerOf("s", "a-0")).toBeUndefined();
    expect(b.ownerOf("s", "a-24")).toBe("alice");
    // One principal cannot evict another's bindings beyond its own share.
    expect(b.bind("s", "b-0", "bob")).toBe(true);
    for (let i = 25; i < 100; i++) b.bind("s", `a-${i}`, "alice");
    expect(b.ownerOf("s", "b-0")).toBe("bob");
    for (let i = 0; i < 200; i++) b.bind("s", `u-${i}`, `user-${i}`);
    expect(b.size).toBeLessThanOrEqual(50);
  });
});

describe("task facts for the audit record", () => {
  it("names the task of tasks/* requests, of a created task and the backend's workflow id", () => {
    expect(taskFactsOf(request("tasks/get", { taskId: "t1" }), undefined)).toEqual({ taskId: "t1" });
    const call = request("tools/call", { name: "deploy_template" });
    expect(taskFactsOf(call, response(call.id, { ...created("t2"), _meta: { [WORKFLOW_ID_META]: "wf-2" } }))).toEqual({
      taskId: "t2",
      workflowId: "wf-2",
    });
    expect(taskFactsOf(call, response(call.id, { content: [] }))).toBeUndefined();
  });
});
