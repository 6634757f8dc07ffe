// The deployment activities one by one, against the real adapter clients and the ServiceNow and
// Catalyst Center fakes, in Temporal's mock activity context: validation refusals, idempotent retries of
// each step, error classification (retryable or not), polling resumed from the last heartbeat, cancellation.

import { CatalystCenterClient } from "@mcp-edge/adapter-catalyst-center";
import { type CatalystFake, startCatalystFake } from "@mcp-edge/adapter-catalyst-center/fake";
import { ServiceNowClient } from "@mcp-edge/adapter-servicenow";
import { type ServiceNowFake, startServiceNowFake } from "@mcp-edge/adapter-servicenow/fake";
import { ApplicationFailure, CancelledFailure } from "@temporalio/common";
import { MockActivityEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeploymentActivities, deploymentState } from "../src/deploy-activities.ts";
import type { DeployTemplateInput } from "../src/deploy-types.ts";
import { templateId } from "./harness.ts";

let sn: ServiceNowFake;
let cc: CatalystFake;
let acts: ReturnType<typeof createDeploymentActivities>;

beforeAll(async () => {
  sn = await startServiceNowFake();
  cc = await startCatalystFake({ deploymentDurationMs: 600 });
  acts = createDeploymentActivities({
    changes: new ServiceNowClient({
      baseUrl: sn.url,
      auth: { kind: "basic", username: "admin", password: "admin-password" },
      maxRetries: 0,
    }),
    deployments: new CatalystCenterClient({ baseUrl: cc.url, username: "admin", password: "admin-password" }),
  });
});

afterAll(async () => {
  await Promise.all([sn?.close(), cc?.close()]);
});

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
}

describe("validateDeployment", () => {
  it("resolves host names and IP addresses to device UUIDs", async () => {
    const v = await acts.validateDeployment({
      templateId: templateId(cc, "access-vlan"),
      targets: ["paris-access-01", "10.10.0.1"],
      params: { vlan_id: "7" },
    });
    expect(v.templateName).toBe("access-vlan");
    expect(v.targets.map((t) => t.name)).toEqual(["paris-access-01", "paris-core-01"]);
    expect(v.targets.every((t) => /^[0-9a-f-]{36}$/.test(t.id))).toBe(true);
  });

  it("refuses, without retry, an unknown template, unknown or unreachable devices and missing required variables", async () => {
    const tpl = templateId(cc, "access-vlan");
    const unknownTemplate = await failure(
      acts.validateDeployment({ templateId: "00000000-0000-0000-0000-000000000000", targets: ["paris-access-01"], params: {} }),
    );
    expect(unknownTemplate.nonRetryable).toBe(true);
    const bad = await failure(acts.validateDeployment({ templateId: tpl, targets: ["nope", "ny-access-01"], params: {} }));
    expect(bad.nonRetryable).toBe(true);
    expect(bad.type).toBe("InvalidRequest");
    expect(bad.message).toContain("unknown device nope");
    expect(bad.message).toContain("device ny-access-01 is Unreachable");
    expect(bad.message).toContain("template variable vlan_id is required");
    expect((await failure(acts.validateDeployment({ templateId: tpl, targets: [], params: {} }))).nonRetryable).toBe(true);
  });
});

describe("ServiceNow steps are idempotent", () => {
  const input: DeployTemplateInput = { templateId: "t", targets: ["paris-access-01"], params: {}, requestedBy: "test-agent" };
  const validated = { templateName: "access-vlan", targets: [{ id: "d1", name: "paris-access-01" }] };

  it("openChange run twice (a retry after a lost answer) opens one change, in Implement", async () => {
    const workflowId = `wf-open-${Date.now()}`;
    const a = await acts.openChange({ workflowId, input, validated });
    const b = await acts.openChange({ workflowId, input, validated });
    expect(b).toEqual(a);
    const recs = [...sn.store.table("change_request").values()].filter((r) => r.correlation_id === workflowId);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ state: "-1", type: "standard" });
    expect(recs[0]!.description).toContain("Requested by: test-agent");
  });

  it("closeChange walks to Closed with the close code once; a second close leaves it alone", async () => {
    const { sysId } = await acts.openChange({ workflowId: `wf-close-${Date.now()}`, input, validated });
    expect(await acts.closeChange({ sysId, succeeded: false, notes: "failed: boom" })).toEqual({ state: "3", alreadyClosed: false });
    expect(await acts.closeChange({ sysId, succeeded: true, notes: "again" })).toEqual({ state: "3", alreadyClosed: true });
    expect(sn.store.table("change_request").get(sysId)).toMatchObject({
      state: "3",
      close_code: "unsuccessful",
      close_notes: "failed: boom",
    });
  });

  it("a cancelled deployment's change goes to Canceled", async () => {
    const { sysId } = await acts.openChange({ workflowId: `wf-cancel-${Date.now()}`, input, validated });
    expect(await acts.closeChange({ sysId, succeeded: false, cancelled: true, notes: "cancelled" })).toEqual({
      state: "4",
      alreadyClosed: false,
    });
  });

  it("a rate-limited ServiceNow is a retryable failure, a refusal is not", async () => {
    sn.rateLimitNext(1, 0);
    const limited = await failure(acts.noteOnChange({ sysId: "0".repeat(32), text: "x" }));
    expect(limited.nonRetryable).toBe(false);
    const missing = await failure(acts.noteOnChange({ sysId: "0".repeat(32), text: "x" }));
    expect(missing.nonRetryable).toBe(true);
    expect(missing.type).toBe("NotFound");
  });
});

describe("Catalyst Center steps", () => {
  it("a deployment Catalyst Center refuses is not retried (never deploy twice)", async () => {
    const f = await failure(
      acts.startDeployment({ workflowId: "wf", templateId: "00000000-0000-0000-0000-000000000000", targets: [{ id: "x" }], params: {} }),
    );
    expect(f.nonRetryable).toBe(true);
  });

  it("followDeployment resumes from its last heartbeat and returns the final state", async () => {
    const v = await acts.validateDeployment({
      templateId: templateId(cc, "access-vlan"),
      targets: ["paris-access-01"],
      params: { vlan_id: "9" },
    });
    const { deploymentId } = await acts.startDeployment({
      workflowId: "wf",
      templateId: templateId(cc, "access-vlan"),
      targets: v.targets,
      params: { vlan_id: "9" },
    });
    const env = new MockActivityEnvironment({ heartbeatDetails: { polls: 5 } });
    const beats: Array<{ polls: number; status: string }> = [];
    env.on("heartbeat", (d: { polls: number; status: string }) => beats.push(d));
    const final = await env.run(acts.followDeployment, { deploymentId, pollIntervalMs: 100 });
    expect(final).toMatchObject({ status: "SUCCESS", terminal: true, succeeded: true });
    expect(beats[0]!.polls).toBe(6);
    expect(beats.at(-1)!.status).toBe("SUCCESS");
  });

  it("followDeployment ends with CancelledFailure when the activity is cancelled", async () => {
    cc.setDeploymentDuration(30_000);
    try {
      const v = await acts.validateDeployment({
        templateId: templateId(cc, "access-vlan"),
        targets: ["paris-access-01"],
        params: { vlan_id: "10" },
      });
      const { deploymentId } = await acts.startDeployment({
        workflowId: "wf",
        templateId: templateId(cc, "access-vlan"),
        targets: v.targets,
        params: { vlan_id: "10" },
      });
      const env = new MockActivityEnvironment();
      env.once("heartbeat", () => env.cancel());
      const e = await env.run(acts.followDeployment, { deploymentId, pollIntervalMs: 100 }).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(CancelledFailure);
      expect((await acts.stopDeployment({ deploymentId })).detail).toContain("IN_PROGRESS");
    } finally {
      cc.setDeploymentDuration(600);
    }
  });

  it("deploymentState: any failed device fails the deployment", () => {
    expect(deploymentState({ status: "SUCCESS", devices: [{ deviceId: "a", status: "SUCCESS" }] }).succeeded).toBe(true);
    expect(
      deploymentState({ status: "SUCCESS", devices: [{ deviceId: "a", status: "FAILURE", detailedStatusMessage: "x" }] }),
    ).toMatchObject({
      succeeded: false,
      message: "x",
    });
    expect(deploymentState({ status: "IN_PROGRESS" }).terminal).toBe(false);
    expect(deploymentState({}).status).toBe("UNKNOWN");
  });
});
