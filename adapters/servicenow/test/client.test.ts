// ServiceNowClient against the fake: each auth mode, OAuth refresh before expiry and after a 401,
// 429 + Retry-After, X-Total-Count paging, timeouts, and error envelopes turned into ServiceNowError.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceNowClient, ServiceNowError } from "../src/client.ts";
import { type ServiceNowFake, startServiceNowFake } from "../src/fake/index.ts";

let fake: ServiceNowFake;
beforeAll(async () => {
  fake = await startServiceNowFake();
});
afterAll(async () => {
  await fake?.close();
});

const oauthPassword = {
  kind: "oauth",
  grant: "password",
  clientId: "mcp-adapter",
  clientSecret: "mcp-adapter-secret",
  username: "itil.agent",
  password: "itil-password",
} as const;
const basic = { kind: "basic", username: "itil.agent", password: "itil-password" } as const;
const grants = (since: number) =>
  fake.requests
    .slice(since)
    .filter((r) => r.url === "/oauth_token.do")
    .map((r) => new URLSearchParams(r.body).get("grant_type"));

describe("authentication", () => {
  it("Basic: every request carries the Basic header", async () => {
    const since = fake.requests.length;
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    const inc = await c.createIncident({ short_description: "basic" });
    expect(inc.sys_created_by).toBe("itil.agent");
    expect(fake.requests.slice(since).every((r) => r.headers.authorization?.startsWith("Basic "))).toBe(true);
  });

  it("OAuth password grant: one grant, then Bearer; client_credentials acts as the client's user", async () => {
    const since = fake.requests.length;
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: oauthPassword });
    await Promise.all([c.query("incident", { limit: 1 }), c.query("problem", { limit: 1 }), c.query("sys_user", { limit: 1 })]);
    expect(grants(since)).toEqual(["password"]);
    const cc = new ServiceNowClient({
      baseUrl: fake.url,
      auth: { kind: "oauth", grant: "client_credentials", clientId: "mcp-adapter", clientSecret: "mcp-adapter-secret" },
    });
    expect((await cc.createProblem({ short_description: "cc" })).sys_created_by).toBe("admin");
  });

  it("OAuth refreshes before expiry (no request is ever sent with an expired token)", async () => {
    // 2 s tokens are refreshed after 1 s: a full second of margin, even on a busy machine.
    const short = await startServiceNowFake({ tokenTtlSeconds: 2 });
    try {
      const c = new ServiceNowClient({ baseUrl: short.url, auth: oauthPassword });
      await c.query("incident", { limit: 1 });
      const until = Date.now() + 10_000;
      while (
        !short.requests.some((r) => r.url === "/oauth_token.do" && r.body.includes("grant_type=refresh_token")) &&
        Date.now() < until
      ) {
        await c.query("incident", { limit: 1 });
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(short.requests.filter((r) => r.url === "/oauth_token.do").map((r) => new URLSearchParams(r.body).get("grant_type"))).toContain(
        "refresh_token",
      );
      expect(short.requests.filter((r) => r.status === 401)).toEqual([]);
    } finally {
      await short.close();
    }
  });

  it("OAuth: a 401 (token revoked) renews once and retries", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: oauthPassword });
    await c.query("incident", { limit: 1 });
    fake.expireTokens();
    const since = fake.requests.length;
    await c.query("incident", { limit: 1 });
    expect(fake.requests.slice(since).map((r) => r.status)).toEqual([401, 200, 200]);
    expect(grants(since)).toEqual(["refresh_token"]);
  });

  it("wrong credentials: a ServiceNowError with the status and no credential in the message", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: { kind: "basic", username: "itil.agent", password: "secret-wrong-pw" } });
    const e = await c.query("incident").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ServiceNowError);
    expect((e as ServiceNowError).status).toBe(401);
    expect(String(e)).toContain("User Not Authenticated");
    expect(String(e)).not.toContain("secret-wrong-pw");
    const o = new ServiceNowClient({ baseUrl: fake.url, auth: { ...oauthPassword, password: "secret-wrong-pw" } });
    const e2 = await o.query("incident").catch((x: unknown) => x);
    expect((e2 as ServiceNowError).status).toBe(401);
    expect(String(e2)).not.toContain("secret-wrong-pw");
  });

  it("headers: sent as given (an Authorization injected by the gateway)", async () => {
    const since = fake.requests.length;
    const value = `Basic ${Buffer.from("admin:admin-password").toString("base64")}`;
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: { kind: "headers", headers: { Authorization: value } } });
    await c.query("incident", { limit: 1 });
    expect(fake.requests.slice(since).map((r) => r.headers.authorization)).toEqual([value]);
  });
});

describe("rate limits, paging, timeouts, errors", () => {
  it("429: waits Retry-After, then succeeds", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    fake.rateLimitNext(1, 1);
    const t0 = Date.now();
    await c.query("incident", { limit: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it("429 with a Retry-After longer than allowed is reported, not waited for", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic, maxRetryWaitMs: 2000 });
    fake.rateLimitNext(1, 120);
    const t0 = Date.now();
    const e = (await c.query("incident").catch((x: unknown) => x)) as ServiceNowError;
    expect(e.status).toBe(429);
    expect(e.message).toMatch(/retry after 120 s/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("429 past maxRetries is the instance's error", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic, maxRetries: 1 });
    fake.rateLimitNext(2, 0);
    const e = (await c.query("incident").catch((x: unknown) => x)) as ServiceNowError;
    expect(e.status).toBe(429);
    expect(e.message).toContain("Rate limit exceeded");
  });

  it("queryAll follows X-Total-Count page by page", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic, pageSize: 2 });
    for (let i = 0; i < 5; i++) await c.createProblem({ short_description: `paged-${i}` });
    const since = fake.requests.length;
    const all = await c.queryAll("problem", { query: "short_descriptionSTARTSWITHpaged-" });
    expect(all.total).toBe(5);
    expect(all.records.map((r) => r.short_description).sort()).toEqual(["paged-0", "paged-1", "paged-2", "paged-3", "paged-4"]);
    expect(fake.requests.slice(since).length).toBe(3);
    const capped = await c.queryAll("problem", { query: "short_descriptionSTARTSWITHpaged-", max: 3 });
    expect(capped.records).toHaveLength(3);
  });

  it("a slow instance times out with a clear error", async () => {
    const slow = await startServiceNowFake({ delayMs: 1000 });
    try {
      const c = new ServiceNowClient({ baseUrl: slow.url, auth: basic, timeoutMs: 100 });
      const e = (await c.query("incident").catch((x: unknown) => x)) as ServiceNowError;
      expect(e).toBeInstanceOf(ServiceNowError);
      expect(e.status).toBe(0);
      expect(e.message).toMatch(/did not answer within 100 ms/);
    } finally {
      await slow.close();
    }
  });

  it("an unreachable instance is a clear error", async () => {
    const c = new ServiceNowClient({ baseUrl: "http://127.0.0.1:1", auth: basic, timeoutMs: 2000 });
    const e = (await c.query("incident").catch((x: unknown) => x)) as ServiceNowError;
    expect(e.status).toBe(0);
    expect(e.message).toMatch(/unreachable/);
  });

  it("ACL and data-policy refusals carry the instance's message and detail", async () => {
    const reader = new ServiceNowClient({ baseUrl: fake.url, auth: { kind: "basic", username: "reader", password: "reader-password" } });
    const e = (await reader.createIncident({ short_description: "x" }).catch((x: unknown) => x)) as ServiceNowError;
    expect(e.status).toBe(403);
    expect(e.detail).toMatch(/ACL Exception/);
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    const inc = await c.createIncident({ short_description: "dp" });
    const e2 = (await c.resolveIncident(inc.sys_id!, { closeCode: "", closeNotes: "" }).catch((x: unknown) => x)) as ServiceNowError;
    expect(e2.status).toBe(403);
    expect(e2.detail).toMatch(/Resolution code/);
  });

  it("query values cannot smuggle extra encoded-query terms", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    await expect(c.queryIncidents({ text: "x^ORactive=true" })).rejects.toThrow(/may not contain/);
    await expect(c.getIncident("INC001^ORx")).rejects.toThrow(TypeError);
    await expect(c.get("incident", "../sys_user")).rejects.toThrow(TypeError);
  });
});

describe("ITSM helpers", () => {
  it("incident: create, get by number, query by caller/group/text/state, work note, comment, resolve, close", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    const inc = await c.createIncident({ short_description: "Printer on fire", caller_id: "itil.agent", assignment_group: "Service Desk" });
    expect((await c.getIncident(inc.number!))?.sys_id).toBe(inc.sys_id);
    expect((await c.getIncident(inc.sys_id!))?.number).toBe(inc.number);
    expect(await c.getIncident("INC9999999")).toBeUndefined();
    for (const f of [{ caller: "itil.agent" }, { assignmentGroup: "Service Desk" }, { text: "printer" }, { state: "1" }]) {
      expect(
        (await c.queryIncidents(f)).records.map((r) => r.number),
        JSON.stringify(f),
      ).toContain(inc.number);
    }
    await c.addWorkNote("incident", inc.sys_id!, "checked the toner");
    await c.addComment("incident", inc.sys_id!, "we are on it");
    expect((await c.journal("incident", inc.sys_id!)).map((j) => j.value).sort()).toEqual(["checked the toner", "we are on it"]);
    expect((await c.resolveIncident(inc.sys_id!, { closeCode: "Solution provided", closeNotes: "extinguished" })).state).toBe("6");
    const closed = await c.closeIncident(inc.sys_id!);
    expect(closed.state).toBe("7");
    expect(closed.active).toBe("false");
  });

  it("change: create, move through the states, awaiting approval, close", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    const chg = await c.createChange({ short_description: "Upgrade core router" });
    expect(chg.type).toBe("normal");
    expect((await c.getChange(chg.number!))?.sys_id).toBe(chg.sys_id);
    await c.moveChange(chg.sys_id!, "assess");
    await c.moveChange(chg.sys_id!, "authorize");
    expect((await c.listChangesAwaitingApproval()).records.map((r) => r.number)).toContain(chg.number);
    await c.moveChange(chg.sys_id!, "scheduled");
    expect((await c.listChangesAwaitingApproval()).records.map((r) => r.number)).not.toContain(chg.number);
    await c.moveChange(chg.sys_id!, "implement");
    await c.addWorkNote("change_request", chg.sys_id!, "implemented");
    await c.moveChange(chg.sys_id!, "review");
    const closed = await c.closeChange(chg.sys_id!, { closeCode: "successful", closeNotes: "done" });
    expect(closed).toMatchObject({ state: "3", close_code: "successful", active: "false" });
    const std = await c.createChange({ type: "standard", short_description: "std" });
    await expect(c.moveChange(std.sys_id!, "assess")).rejects.toThrow(/Invalid state transition/);
  });

  it("CMDB, users and groups lookups", async () => {
    const c = new ServiceNowClient({ baseUrl: fake.url, auth: basic });
    expect((await c.findConfigurationItems({ name: "paris" })).records.map((r) => r.name)).toEqual(["paris-access-01", "paris-core-01"]);
    expect((await c.findConfigurationItems({ className: "cmdb_ci_ip_router" })).records.map((r) => r.name)).toEqual(["paris-core-01"]);
    expect((await c.findUsers("ivy")).records.map((r) => r.user_name)).toEqual(["itil.agent"]);
    expect((await c.findGroups("net")).records.map((r) => r.name)).toEqual(["Network"]);
  });
});
