// CatalystCenterClient against the fake: token reuse and renewal (expiry, 401), header mode, timeouts and
// error envelopes, the deploy → deployment/task ids contract, and every exchange checked against the schemas.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalystCenterClient, CatalystCenterError, deploymentIdOf } from "../src/client.ts";
import { type CatalystFake, startCatalystFake } from "../src/fake/index.ts";
import { expectExchangesValid } from "./schema-check.ts";

let fake: CatalystFake;
beforeAll(async () => {
  fake = await startCatalystFake({ deploymentDurationMs: 200, commandDurationMs: 50 });
});
afterAll(async () => {
  if (fake) expect(expectExchangesValid(fake)).toBeGreaterThan(30);
  await fake?.close();
});

const creds = () => ({ baseUrl: fake.url, username: "admin", password: "admin-password", pollIntervalMs: 25 });
const tokenRequests = (since: number) => fake.exchanges.slice(since).filter((e) => e.path === "/dna/system/api/v1/auth/token").length;

describe("authentication", () => {
  it("one token request for many calls; X-Auth-Token on each", async () => {
    const since = fake.exchanges.length;
    const c = new CatalystCenterClient(creds());
    await Promise.all([c.listDevices(), c.getSites(), c.getIssues(), c.getProjects()]);
    expect(tokenRequests(since)).toBe(1);
    const api = fake.exchanges.slice(since).filter((e) => e.path !== "/dna/system/api/v1/auth/token");
    expect(api.every((e) => typeof e.headers["x-auth-token"] === "string" && e.headers.authorization === undefined)).toBe(true);
  });

  it("renewed after a 401 (expired token) and after tokenTtlMs", async () => {
    const c = new CatalystCenterClient(creds());
    await c.getSites();
    fake.expireTokens();
    let since = fake.exchanges.length;
    await c.getSites();
    expect(fake.exchanges.slice(since).map((e) => e.status)).toEqual([401, 200, 200]);
    const short = new CatalystCenterClient({ ...creds(), tokenTtlMs: 1 });
    await short.getSites();
    await new Promise((r) => setTimeout(r, 5));
    since = fake.exchanges.length;
    await short.getSites();
    expect(fake.exchanges.slice(since).map((e) => e.status)).toEqual([200, 200]);
    expect(tokenRequests(since)).toBe(1);
  });

  it("wrong credentials: a 401 error without the password", async () => {
    const c = new CatalystCenterClient({ ...creds(), password: "pw-wrong-5511" });
    const e = (await c.getSites().catch((x: unknown) => x)) as CatalystCenterError;
    expect(e).toBeInstanceOf(CatalystCenterError);
    expect(e.status).toBe(401);
    expect(e.message).toMatch(/Authentication has failed/);
    expect(e.message).not.toContain("pw-wrong-5511");
  });

  it("header mode sends the given X-Auth-Token and never asks for one", async () => {
    const token = (
      (await (
        await fetch(`${fake.url}/dna/system/api/v1/auth/token`, {
          method: "POST",
          headers: { authorization: `Basic ${Buffer.from("admin:admin-password").toString("base64")}` },
        })
      ).json()) as { Token: string }
    ).Token;
    const since = fake.exchanges.length;
    const c = new CatalystCenterClient({ baseUrl: fake.url, headers: { "X-Auth-Token": token } });
    await c.listDevices({ hostname: "paris-core-01" });
    expect(fake.exchanges.slice(since).map((e) => e.headers["x-auth-token"])).toEqual([token]);
  });
});

describe("errors and timeouts", () => {
  it("429: waits Retry-After and succeeds; past the retries or past maxRetryWaitMs it is an error", async () => {
    const c = new CatalystCenterClient(creds());
    await c.getSites();
    fake.rateLimitNext(1, 1);
    const t0 = Date.now();
    expect((await c.getSites()).length).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    fake.rateLimitNext(2, 0);
    const few = new CatalystCenterClient({ ...creds(), maxRetries: 1 });
    const e = (await few.getSites().catch((x: unknown) => x)) as CatalystCenterError;
    expect(e.status).toBe(429);
    expect(e.message).toMatch(/Too many requests/);
    fake.rateLimitNext(1, 600);
    const t1 = Date.now();
    const long = (await c.getSites().catch((x: unknown) => x)) as CatalystCenterError;
    expect(long.message).toMatch(/retry after 600 s/);
    expect(Date.now() - t1).toBeLessThan(5000);
    fake.rateLimitNext(0);
  });

  it("404 envelopes become CatalystCenterError with errorCode and detail", async () => {
    const c = new CatalystCenterClient(creds());
    const e = (await c.getTemplate("00000000-0000-0000-0000-000000000000").catch((x: unknown) => x)) as CatalystCenterError;
    expect(e.status).toBe(404);
    expect(e.errorCode).toBe("NCTP10401");
    expect(e.message).toMatch(/Template not found/);
  });

  it("a slow server times out; an unreachable one is reported", async () => {
    const slow = await startCatalystFake({ delayMs: 1000 });
    try {
      const c = new CatalystCenterClient({ baseUrl: slow.url, headers: { "x-auth-token": "x" }, timeoutMs: 100 });
      const e = (await c.getSites().catch((x: unknown) => x)) as CatalystCenterError;
      expect(e.status).toBe(0);
      expect(e.message).toMatch(/did not answer within 100 ms/);
    } finally {
      await slow.close();
    }
    const gone = new CatalystCenterClient({ baseUrl: "http://127.0.0.1:1", username: "a", password: "b" });
    expect(((await gone.getSites().catch((x: unknown) => x)) as CatalystCenterError).message).toMatch(/unreachable/);
  });
});

describe("templates, deployments, tasks, commands", () => {
  it("deployTemplate → { deploymentId, taskId }; status moves to SUCCESS; task ends", async () => {
    const c = new CatalystCenterClient(creds());
    const [core] = await c.listDevices({ hostname: "paris-core-01" });
    const tpl = (await c.getTemplates({ projectNames: ["Campus Baseline"] })).find((t) => t.name === "access-vlan")!;
    const detail = await c.getTemplate(String(tpl.templateId));
    expect(detail.language).toBe("VELOCITY");
    expect(
      (await c.previewTemplate({ templateId: String(tpl.templateId), params: { vlan_id: 50 }, deviceId: core!.id })).cliPreview,
    ).toContain("vlan 50");
    const d = await c.deployTemplate({ templateId: String(tpl.templateId), targets: [{ id: core!.id }], params: { vlan_id: 50 } });
    expect(d.deploymentId).toMatch(/^[0-9a-f-]{36}$/);
    expect(d.taskId).toMatch(/^[0-9a-f-]{36}$/);
    const task = await c.waitForTask(d.taskId, { timeoutMs: 10_000 });
    expect(task.isError).toBe(false);
    expect((await c.getDeploymentStatus(d.deploymentId)).status).toBe("SUCCESS");
  });

  it("a failing deployment: ids still returned, status FAILURE with the device's reason", async () => {
    const c = new CatalystCenterClient(creds());
    const tpl = (await c.getTemplates()).find((t) => t.name === "ntp-servers")!;
    fake.setFailDeployments(true);
    try {
      const d = await c.deployTemplate({
        templateId: String(tpl.templateId),
        targets: [{ hostName: "paris-access-01" }],
        params: { ntp_primary: "10.0.0.1", ntp_secondary: "10.0.0.2" },
      });
      const task = await c.waitForTask(d.taskId, { timeoutMs: 10_000 });
      expect(task.isError).toBe(true);
      const s = await c.getDeploymentStatus(d.deploymentId);
      expect(s.status).toBe("FAILURE");
      expect(s.devices?.[0]?.detailedStatusMessage).toMatch(/push failed/);
    } finally {
      fake.setFailDeployments(undefined);
    }
  });

  it("deploying a template that does not exist fails with the task's reason", async () => {
    const c = new CatalystCenterClient(creds());
    const [core] = await c.listDevices({ hostname: "paris-core-01" });
    await expect(c.deployTemplate({ templateId: "00000000-0000-0000-0000-000000000000", targets: [{ id: core!.id }] })).rejects.toThrow(
      /not found/,
    );
    await expect(c.deployTemplate({ templateId: "x", targets: [] })).rejects.toThrow(TypeError);
  });

  it("deploymentIdOf reads the product's progress text", () => {
    expect(deploymentIdOf("Template Deployemnt Id: 42446169-f534-4c7f-b356-52f6b4af7cfa")).toBe("42446169-f534-4c7f-b356-52f6b4af7cfa");
    expect(
      deploymentIdOf("Deployment of Template: x.ApplicableTargets: [a]Template Deployemnt Id: 42446169-f534-4c7f-b356-52f6b4af7cfa"),
    ).toBe("42446169-f534-4c7f-b356-52f6b4af7cfa");
    expect(deploymentIdOf("CLI Runner request creation")).toBeUndefined();
  });

  it("runReadOnlyCommands: output per device, refused commands listed", async () => {
    const c = new CatalystCenterClient(creds());
    const [core] = await c.listDevices({ hostname: "paris-core-01" });
    const r = await c.runReadOnlyCommands({ commands: ["show ip interface brief", "configure terminal"], deviceUuids: [core!.id] });
    expect(r.results[0]?.succeeded["show ip interface brief"]).toContain("10.10.0.1");
    expect(r.results[0]?.blacklisted).toEqual(["configure terminal"]);
    expect(await c.getLegitReads()).toContain("show");
  });

  it("health and issues", async () => {
    const c = new CatalystCenterClient(creds());
    expect((await c.getNetworkHealth()).totalDevices).toBe(5);
    expect((await c.getSiteHealth()).length).toBeGreaterThan(0);
    expect((await c.getDeviceHealth({ health: "POOR" })).length).toBe(2);
    expect((await c.getIssues({ issueStatus: "active" })).length).toBe(1);
    const [core] = await c.listDevices({ hostname: "paris-core-01" });
    expect((await c.getDevice(core!.id)).serialNumber).toBe(core!.serialNumber);
  });
});
