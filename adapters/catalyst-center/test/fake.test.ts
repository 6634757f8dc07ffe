// The Catalyst Center fake on its own (raw HTTP): token auth, inventory filters and 1-based paging,
// deployments and tasks moving from in progress to done, the failure knob, and the command runner.
// Every request and response of the file is validated against the official schemas at the end.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CatalystFake, startCatalystFake } from "../src/fake/index.ts";
import { expectExchangesValid } from "./schema-check.ts";

let fake: CatalystFake;
let token: string;
beforeAll(async () => {
  fake = await startCatalystFake({ deploymentDurationMs: 300, commandDurationMs: 100 });
  token = (await login("admin", "admin-password")).json.Token;
});
afterAll(async () => {
  // The one deliberately invalid body (the 400 test) is the test's, not a client's.
  if (fake)
    expect(
      expectExchangesValid(fake, (e) => (e.requestBody as { targetInfo?: unknown } | undefined)?.targetInfo === "all"),
    ).toBeGreaterThan(40);
  await fake?.close();
});

async function login(user: string, pw: string) {
  const r = await fetch(`${fake.url}/dna/system/api/v1/auth/token`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}` },
  });
  // biome-ignore lint/suspicious/noExplicitAny: test JSON
  return { status: r.status, json: (await r.json()) as any };
}

async function api(method: string, path: string, body?: unknown, t = token) {
  const r = await fetch(`${fake.url}${path}`, {
    method,
    headers: { "x-auth-token": t, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  // biome-ignore lint/suspicious/noExplicitAny: test JSON
  return { status: r.status, json: (await r.json()) as any };
}

/** Poll until `f` returns a value (bounded). */
async function until<T>(f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const devices = async (q = "") =>
  (await api("GET", `/dna/intent/api/v1/network-device${q}`)).json.response as Array<{ id: string; hostname: string }>;

describe("authentication", () => {
  it("Basic credentials give a Token; wrong ones and a missing or expired X-Auth-Token are 401", async () => {
    expect(typeof token).toBe("string");
    expect((await login("admin", "wrong")).status).toBe(401);
    expect((await api("GET", "/dna/intent/api/v1/site", undefined, "nope")).status).toBe(401);
    const t = (await login("admin", "admin-password")).json.Token;
    expect((await api("GET", "/dna/intent/api/v1/site", undefined, t)).status).toBe(200);
    fake.expireTokens();
    expect((await api("GET", "/dna/intent/api/v1/site", undefined, t)).status).toBe(401);
    token = (await login("admin", "admin-password")).json.Token;
  });
});

describe("inventory", () => {
  it("filters by hostname (exact and .* wildcard), IP, family, reachability; 1-based offset and limit", async () => {
    expect((await devices("?hostname=paris-core-01")).map((d) => d.hostname)).toEqual(["paris-core-01"]);
    expect((await devices("?hostname=paris-.*")).length).toBe(3);
    expect((await devices("?hostname=paris-core-01&hostname=ny-core-01")).length).toBe(2);
    expect((await devices("?managementIpAddress=10.20.0.1")).map((d) => d.hostname)).toEqual(["ny-core-01"]);
    expect((await devices("?reachabilityStatus=Unreachable")).map((d) => d.hostname)).toEqual(["ny-access-01"]);
    const all = await devices();
    expect((await devices("?offset=2&limit=2")).map((d) => d.id)).toEqual(all.slice(1, 3).map((d) => d.id));
    expect((await api("GET", "/dna/intent/api/v1/network-device?offset=0")).status).toBe(400);
    const one = await api("GET", `/dna/intent/api/v1/network-device/${all[0]!.id}`);
    expect(one.json.response.hostname).toBe(all[0]!.hostname);
    expect((await api("GET", "/dna/intent/api/v1/network-device/00000000-0000-0000-0000-000000000000")).status).toBe(404);
  });

  it("sites, site health, network health, device health by site and class, issues", async () => {
    const sites = (await api("GET", "/dna/intent/api/v1/site")).json.response as Array<{ id: string; siteNameHierarchy: string }>;
    const paris = sites.find((s) => s.siteNameHierarchy === "Global/France/Paris")!;
    expect((await api("GET", "/dna/intent/api/v1/site?name=Global/France/Paris")).json.response).toHaveLength(1);
    expect((await api("GET", `/dna/intent/api/v1/device-health?siteId=${paris.id}`)).json.totalCount).toBe(3);
    expect(
      (await api("GET", "/dna/intent/api/v1/device-health?health=POOR")).json.response.map((d: { name: string }) => d.name).sort(),
    ).toEqual(["ny-access-01", "paris-access-02"]);
    const sh = (await api("GET", "/dna/intent/api/v1/site-health")).json.response as Array<{
      siteId: string;
      numberOfNetworkDevice: number;
    }>;
    expect(sh.find((s) => s.siteId === paris.id)?.numberOfNetworkDevice).toBe(3);
    expect((await api("GET", "/dna/intent/api/v1/network-health")).json.totalDevices).toBe(5);
    const active = await api("GET", `/dna/intent/api/v1/issues?siteId=${paris.id}&issueStatus=active`);
    expect(active.json.response).toHaveLength(1);
    expect(active.json.totalCount).toBe("1");
  });
});

describe("templates and deployments", () => {
  let templateId: string;
  beforeAll(async () => {
    const list = (await api("GET", "/dna/intent/api/v1/template-programmer/template")).json as Array<{ name: string; templateId: string }>;
    templateId = list.find((t) => t.name === "access-vlan")!.templateId;
  });

  it("projects, template list, detail and preview (missing required params reported)", async () => {
    expect((await api("GET", "/dna/intent/api/v1/template-programmer/project")).json[0].name).toBe("Campus Baseline");
    const t = (await api("GET", `/dna/intent/api/v1/template-programmer/template/${templateId}`)).json;
    expect(t.templateParams.map((p: { parameterName: string }) => p.parameterName)).toEqual(["vlan_id", "vlan_name"]);
    const p = (await api("PUT", "/dna/intent/api/v1/template-programmer/template/preview", { templateId, params: { vlan_id: "30" } })).json;
    expect(p.cliPreview).toBe("vlan 30\n name users\n");
    const missing = (await api("PUT", "/dna/intent/api/v1/template-programmer/template/preview", { templateId, params: {} })).json;
    expect(missing.validationErrors).toEqual({ missingParameters: "vlan_id" });
    expect((await api("GET", "/dna/intent/api/v1/template-programmer/template/00000000-0000-0000-0000-000000000000")).status).toBe(404);
  });

  it("deploy (v2) → task whose progress names the deployment; IN_PROGRESS then SUCCESS; config applied", async () => {
    const [core] = await devices("?hostname=paris-core-01");
    // Long enough that the first reads surely see it in progress, even on a busy machine.
    fake.setDeploymentDuration(2000);
    const r = await api("POST", "/dna/intent/api/v2/template-programmer/template/deploy", {
      templateId,
      forcePushTemplate: false,
      targetInfo: [{ id: core!.id, type: "MANAGED_DEVICE_UUID", params: { vlan_id: "31" } }],
    });
    expect(r.status).toBe(202);
    const taskId = r.json.response.taskId as string;
    const task = (await api("GET", `/dna/intent/api/v1/task/${taskId}`)).json.response;
    const deploymentId = /Template Deployemnt Id: (\S+)/.exec(task.progress)![1]!;
    const first = (await api("GET", `/dna/intent/api/v1/template-programmer/template/deploy/status/${deploymentId}`)).json;
    expect(first.status).toBe("IN_PROGRESS");
    expect(task.endTime).toBeUndefined();
    const done = await until(async () => {
      const s = (await api("GET", `/dna/intent/api/v1/template-programmer/template/deploy/status/${deploymentId}`)).json;
      return s.status === "IN_PROGRESS" ? undefined : s;
    });
    expect(done.status).toBe("SUCCESS");
    expect(done.devices[0]).toMatchObject({ deviceId: core!.id, status: "SUCCESS" });
    const finished = (await api("GET", `/dna/intent/api/v1/task/${taskId}`)).json.response;
    expect(finished).toMatchObject({ isError: false, endTime: expect.any(Number) });
    expect(fake.state.devices.get(core!.id)!.runningConfig).toContain("vlan 31");
    fake.setDeploymentDuration(300);
  });

  it("the failure knob (true, a set of hostnames, a function) and missing params make a FAILURE with a reason", async () => {
    const [a1, a2] = await devices("?hostname=paris-access-0.*");
    const deployTo = async (targets: Array<Record<string, unknown>>) => {
      const r = await api("POST", "/dna/intent/api/v2/template-programmer/template/deploy", { templateId, targetInfo: targets });
      const taskId = r.json.response.taskId as string;
      const t = await until(async () => {
        const x = (await api("GET", `/dna/intent/api/v1/task/${taskId}`)).json.response;
        return x.endTime === undefined ? undefined : x;
      });
      const id = /Template Deployemnt Id: (\S+)/.exec(t.progress)![1]!;
      return { task: t, status: (await api("GET", `/dna/intent/api/v1/template-programmer/template/deploy/status/${id}`)).json };
    };
    fake.setDeploymentDuration(50);
    fake.setFailDeployments(new Set([a2!.hostname]));
    const partial = await deployTo([
      { id: a1!.id, type: "MANAGED_DEVICE_UUID", params: { vlan_id: "40" } },
      { hostName: a2!.hostname, type: "MANAGED_DEVICE_HOSTNAME", params: { vlan_id: "40" } },
    ]);
    expect(partial.status.status).toBe("FAILURE");
    expect(partial.task).toMatchObject({ isError: true, failureReason: expect.any(String) });
    expect(partial.status.devices.map((d: { status: string }) => d.status)).toEqual(["SUCCESS", "FAILURE"]);
    fake.setFailDeployments(true);
    expect((await deployTo([{ id: a1!.id, type: "MANAGED_DEVICE_UUID", params: { vlan_id: "41" } }])).status.status).toBe("FAILURE");
    fake.setFailDeployments((_t, d) => (d.role === "ACCESS" ? "access switches are frozen" : undefined));
    const fn = await deployTo([{ id: a1!.id, type: "MANAGED_DEVICE_UUID", params: { vlan_id: "42" } }]);
    expect(fn.status.devices[0].detailedStatusMessage).toBe("access switches are frozen");
    fake.setFailDeployments(undefined);
    const noParams = await deployTo([{ id: a1!.id, type: "MANAGED_DEVICE_UUID", params: {} }]);
    expect(noParams.status.devices[0].detailedStatusMessage).toMatch(/Missing value for required parameters: vlan_id/);
    const unknown = await deployTo([{ id: "00000000-0000-0000-0000-000000000000", type: "MANAGED_DEVICE_UUID" }]);
    expect(unknown.status.devices[0].detailedStatusMessage).toBe("Device not found");
    fake.setDeploymentDuration(300);
  });

  it("a body that breaks the request schema is a 400 with the reason", async () => {
    const r = await api("POST", "/dna/intent/api/v2/template-programmer/template/deploy", { templateId, targetInfo: "all" });
    expect(r.status).toBe(400);
    expect(r.json.response.detail).toMatch(/targetInfo/);
  });
});

describe("command runner", () => {
  it("legit reads; a read request → task → file with SUCCESS, FAILURE and BLACKLISTED commands", async () => {
    expect((await api("GET", "/dna/intent/api/v1/network-device-poller/cli/legit-reads")).json.response).toContain("show");
    const [core] = await devices("?hostname=paris-core-01");
    const [down] = await devices("?hostname=ny-access-01");
    const r = await api("POST", "/dna/intent/api/v1/network-device-poller/cli/read-request", {
      name: "t",
      commands: ["show version", "show nonsense", "configure terminal"],
      deviceUuids: [core!.id, down!.id],
      timeout: 10,
    });
    expect(r.status).toBe(202);
    const task = await until(async () => {
      const t = (await api("GET", `/dna/intent/api/v1/task/${r.json.response.taskId}`)).json.response;
      return t.progress.includes("fileId") ? t : undefined;
    });
    const file = (await api("GET", `/dna/intent/api/v1/file/${JSON.parse(task.progress).fileId}`)).json;
    expect(file[0].deviceUuid).toBe(core!.id);
    expect(file[0].commandResponses.SUCCESS["show version"]).toContain("Cisco IOS XE Software");
    expect(file[0].commandResponses.FAILURE["show nonsense"]).toContain("Invalid input");
    expect(Object.keys(file[0].commandResponses.BLACKLISTED)).toEqual(["configure terminal"]);
    expect(file[1].commandResponses.FAILURE["show version"]).toBe("Device unreachable");
  });
});
