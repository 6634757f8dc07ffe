// The ServiceNow fake against docs/table-api.md, one describe per section: raw HTTP requests, so the
// fake is checked on its own before the adapter is tested against it.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceNowFake, startServiceNowFake } from "../src/fake/index.ts";

let fake: ServiceNowFake;
const ADMIN = `Basic ${Buffer.from("admin:admin-password").toString("base64")}`;
const ITIL = `Basic ${Buffer.from("itil.agent:itil-password").toString("base64")}`;
const READER = `Basic ${Buffer.from("reader:reader-password").toString("base64")}`;

beforeAll(async () => {
  fake = await startServiceNowFake({ tokenTtlSeconds: 60 });
});
afterAll(async () => {
  await fake?.close();
});

async function api(method: string, path: string, body?: unknown, auth = ITIL) {
  const r = await fetch(`${fake.url}${path}`, {
    method,
    headers: { authorization: auth, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  // biome-ignore lint/suspicious/noExplicitAny: test JSON
  return { status: r.status, headers: r.headers, text, json: (text ? JSON.parse(text) : undefined) as any };
}

describe("paths", () => {
  it("query, create, get, put, patch, delete on /api/now/table/{table}[/{sys_id}], and the /api/now/v2 alias", async () => {
    const c = await api("POST", "/api/now/table/incident", { short_description: "path test" });
    expect(c.status).toBe(201);
    const id = c.json.result.sys_id;
    expect((await api("GET", `/api/now/table/incident/${id}`)).status).toBe(200);
    expect((await api("GET", `/api/now/v2/table/incident/${id}`)).json.result.sys_id).toBe(id);
    expect((await api("PUT", `/api/now/table/incident/${id}`, { impact: "2" })).status).toBe(200);
    expect((await api("PATCH", `/api/now/v2/table/incident/${id}`, { urgency: "2" })).status).toBe(200);
    const q = await api("GET", `/api/now/table/incident?sysparm_query=sys_id=${id}`);
    expect(q.json.result).toHaveLength(1);
    expect(q.json.result[0].impact).toBe("2");
    const d = await api("DELETE", `/api/now/table/incident/${id}`);
    expect(d.status).toBe(204);
    expect(d.text).toBe("");
  });

  it("serves every ITSM table", async () => {
    for (const t of ["incident", "change_request", "problem", "sc_req_item", "cmdb_ci", "sys_user", "sys_user_group"]) {
      expect((await api("GET", `/api/now/table/${t}?sysparm_limit=1`)).status, t).toBe(200);
    }
  });
});

describe("status codes and envelope", () => {
  it("GET of an unknown sys_id is 404 No Record found, in the error envelope", async () => {
    const r = await api("GET", `/api/now/table/incident/${"0".repeat(32)}`);
    expect(r.status).toBe(404);
    expect(r.json.status).toBe("failure");
    expect(r.json.error.message).toBe("No Record found");
    expect(typeof r.json.error.detail).toBe("string");
  });

  it("a query is {result: [...]}, one record {result: {...}}", async () => {
    const q = await api("GET", "/api/now/table/sys_user_group");
    expect(Array.isArray(q.json.result)).toBe(true);
    const one = await api("GET", `/api/now/table/sys_user_group/${q.json.result[0].sys_id}`);
    expect(one.json.result.sys_id).toBe(q.json.result[0].sys_id);
  });

  it("401 User Not Authenticated without or with wrong credentials", async () => {
    for (const auth of ["", `Basic ${Buffer.from("admin:nope").toString("base64")}`, "Bearer not-a-token"]) {
      const r = await api("GET", "/api/now/table/incident", undefined, auth);
      expect(r.status).toBe(401);
      expect(r.json).toEqual({
        error: { message: "User Not Authenticated", detail: "Required to provide Auth information" },
        status: "failure",
      });
    }
  });

  it("403 for an ACL refusal (a user without itil writes an incident)", async () => {
    const r = await api("POST", "/api/now/table/incident", { short_description: "x" }, READER);
    expect(r.status).toBe(403);
    expect(r.json.status).toBe("failure");
    expect(r.json.error.detail).toMatch(/ACL Exception Insert Failed/);
  });

  it("400 for an invalid body and for an invalid table", async () => {
    const bad = await api("POST", "/api/now/table/incident", "{not json");
    expect(bad.status).toBe(400);
    expect(bad.json.status).toBe("failure");
    const arr = await api("POST", "/api/now/table/incident", [1, 2]);
    expect(arr.status).toBe(400);
    const t = await api("GET", "/api/now/table/no_such_table");
    expect(t.status).toBe(400);
    expect(t.json.error.message).toBe("Invalid table no_such_table");
  });
});

describe("records", () => {
  it("every value is a string; sys_id is 32 hex; server fields are set; numbers are prefixed per table", async () => {
    const inc = (await api("POST", "/api/now/table/incident", { short_description: "typed", impact: 2, active: true })).json.result;
    for (const [k, v] of Object.entries(inc)) expect(typeof v, k).toBe("string");
    expect(inc.impact).toBe("2");
    expect(inc.sys_id).toMatch(/^[0-9a-f]{32}$/);
    expect(inc.sys_created_on).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(inc.sys_created_by).toBe("itil.agent");
    expect(inc.sys_mod_count).toBe("0");
    expect(inc.number).toMatch(/^INC\d{7}$/);
    const chg = (await api("POST", "/api/now/table/change_request", { short_description: "c" })).json.result;
    expect(chg.number).toMatch(/^CHG003\d{4}$/);
    const prb = (await api("POST", "/api/now/table/problem", { short_description: "p" })).json.result;
    expect(prb.number).toMatch(/^PRB004\d{4}$/);
    const upd = (await api("PATCH", `/api/now/table/incident/${inc.sys_id}`, { urgency: "1" })).json.result;
    expect(upd.sys_mod_count).toBe("1");
  });

  it("incident states; resolving needs close_code and close_notes", async () => {
    const inc = (await api("POST", "/api/now/table/incident", { short_description: "to resolve" })).json.result;
    expect(inc.state).toBe("1");
    const refused = await api("PATCH", `/api/now/table/incident/${inc.sys_id}`, { state: "6" });
    expect(refused.status).toBe(403);
    expect(refused.json.error.detail).toMatch(/mandatory: Resolution code, Resolution notes/);
    expect((await api("GET", `/api/now/table/incident/${inc.sys_id}`)).json.result.state).toBe("1");
    const ok = await api("PATCH", `/api/now/table/incident/${inc.sys_id}`, {
      state: "6",
      close_code: "Solution provided",
      close_notes: "done",
    });
    expect(ok.status).toBe(200);
    expect(ok.json.result.state).toBe("6");
    expect(ok.json.result.resolved_at).not.toBe("");
  });

  it("change request states follow the model: -5 New … 3 Closed, 4 Canceled", async () => {
    const chg = (await api("POST", "/api/now/table/change_request", { short_description: "model" })).json.result;
    expect(chg.state).toBe("-5");
    const skip = await api("PATCH", `/api/now/table/change_request/${chg.sys_id}`, { state: "-1" });
    expect(skip.status).toBe(403);
    for (const s of ["-4", "-3", "-2", "-1", "0"]) {
      const r = await api("PATCH", `/api/now/table/change_request/${chg.sys_id}`, { state: s });
      expect(r.status, s).toBe(200);
      if (s === "-3") expect(r.json.result.approval).toBe("requested");
    }
    expect((await api("PATCH", `/api/now/table/change_request/${chg.sys_id}`, { state: "3" })).status).toBe(403);
    const closed = await api("PATCH", `/api/now/table/change_request/${chg.sys_id}`, {
      state: "3",
      close_code: "successful",
      close_notes: "ok",
    });
    expect(closed.json.result.state).toBe("3");
    const std = (await api("POST", "/api/now/table/change_request", { short_description: "std", type: "standard" })).json.result;
    expect((await api("PATCH", `/api/now/table/change_request/${std.sys_id}`, { state: "-2" })).status).toBe(200);
    expect((await api("PATCH", `/api/now/table/change_request/${std.sys_id}`, { state: "4" })).json.result.state).toBe("4");
  });

  it("reference fields are {link, value} unless sysparm_exclude_reference_link=true", async () => {
    const group = (await api("GET", "/api/now/table/sys_user_group?sysparm_query=name=Network")).json.result[0];
    const inc = (await api("POST", "/api/now/table/incident", { short_description: "ref", assignment_group: group.sys_id })).json.result;
    expect(inc.assignment_group).toEqual({ link: `${fake.url}/api/now/table/sys_user_group/${group.sys_id}`, value: group.sys_id });
    const plain = (await api("GET", `/api/now/table/incident/${inc.sys_id}?sysparm_exclude_reference_link=true`)).json.result;
    expect(plain.assignment_group).toBe(group.sys_id);
  });
});

describe("query parameters", () => {
  beforeAll(async () => {
    for (const [n, d, impact] of [
      ["q-alpha", "router down in paris", "1"],
      ["q-beta", "switch flapping", "2"],
      ["q-gamma", "", "3"],
    ]) {
      await api("POST", "/api/now/table/problem", { short_description: n, description: d, impact });
    }
  });
  const names = async (query: string, extra = "") =>
    (await api("GET", `/api/now/table/problem?sysparm_query=${encodeURIComponent(query)}${extra}`)).json.result.map(
      (r: { short_description: string }) => r.short_description,
    );

  it("=, !=, ^ (and), ^OR, ORDERBYDESC", async () => {
    expect(await names("short_description=q-alpha")).toEqual(["q-alpha"]);
    expect(await names("short_descriptionSTARTSWITHq-^short_description!=q-beta^ORDERBYshort_description")).toEqual(["q-alpha", "q-gamma"]);
    expect(await names("short_description=q-alpha^ORshort_description=q-gamma^ORDERBYDESCshort_description")).toEqual([
      "q-gamma",
      "q-alpha",
    ]);
  });

  it("LIKE, STARTSWITH, ENDSWITH, IN, NOT IN, ISEMPTY, ISNOTEMPTY, <, >", async () => {
    expect(await names("descriptionLIKEparis")).toEqual(["q-alpha"]);
    expect(await names("short_descriptionENDSWITHta^ORDERBYshort_description")).toEqual(["q-beta"]);
    expect(await names("short_descriptionINq-alpha,q-beta^ORDERBYshort_description")).toEqual(["q-alpha", "q-beta"]);
    expect(await names("short_descriptionSTARTSWITHq-^short_descriptionNOT INq-alpha,q-beta")).toEqual(["q-gamma"]);
    expect(await names("short_descriptionSTARTSWITHq-^descriptionISEMPTY")).toEqual(["q-gamma"]);
    expect(await names("short_descriptionSTARTSWITHq-^descriptionISNOTEMPTY^ORDERBYshort_description")).toEqual(["q-alpha", "q-beta"]);
    expect(await names("short_descriptionSTARTSWITHq-^impact<2")).toEqual(["q-alpha"]);
    expect(await names("short_descriptionSTARTSWITHq-^impact>2")).toEqual(["q-gamma"]);
  });

  it("an unparsable query is a 400", async () => {
    const r = await api("GET", `/api/now/table/problem?sysparm_query=${encodeURIComponent("Not A Term")}`);
    expect(r.status).toBe(400);
  });

  it("sysparm_limit, sysparm_offset, sysparm_fields", async () => {
    const q = "short_descriptionSTARTSWITHq-^ORDERBYshort_description";
    expect(await names(q, "&sysparm_limit=1&sysparm_offset=1")).toEqual(["q-beta"]);
    const r = await api("GET", `/api/now/table/problem?sysparm_query=${encodeURIComponent(q)}&sysparm_fields=short_description,impact`);
    expect(Object.keys(r.json.result[0]).sort()).toEqual(["impact", "short_description"]);
  });

  it("sysparm_display_value true | false | all", async () => {
    const q = encodeURIComponent("short_description=q-alpha");
    expect((await api("GET", `/api/now/table/problem?sysparm_query=${q}&sysparm_display_value=false`)).json.result[0].impact).toBe("1");
    expect((await api("GET", `/api/now/table/problem?sysparm_query=${q}&sysparm_display_value=true`)).json.result[0].impact).toBe(
      "1 - High",
    );
    expect((await api("GET", `/api/now/table/problem?sysparm_query=${q}&sysparm_display_value=all`)).json.result[0].impact).toEqual({
      display_value: "1 - High",
      value: "1",
    });
  });

  it("sysparm_input_display_value sets references and choices by display value", async () => {
    const r = await api("POST", "/api/now/table/incident?sysparm_input_display_value=true&sysparm_exclude_reference_link=true", {
      short_description: "by display",
      assignment_group: "Network",
      impact: "2 - Medium",
    });
    const group = (await api("GET", "/api/now/table/sys_user_group?sysparm_query=name=Network")).json.result[0];
    expect(r.json.result.assignment_group).toBe(group.sys_id);
    expect(r.json.result.impact).toBe("2");
  });
});

describe("pagination", () => {
  it("X-Total-Count and Link first/prev/next/last; suppress and no_count drop them", async () => {
    for (let i = 0; i < 5; i++) await api("POST", "/api/now/table/sc_req_item", { short_description: `page ${i}` });
    const r = await api("GET", "/api/now/table/sc_req_item?sysparm_query=short_descriptionSTARTSWITHpage&sysparm_limit=2&sysparm_offset=2");
    expect(r.headers.get("x-total-count")).toBe("5");
    const link = r.headers.get("link") ?? "";
    const rel = (name: string) =>
      new URL([...link.matchAll(/<([^>]+)>;rel="([a-z]+)"/g)].find((m) => m[2] === name)![1]!).searchParams.get("sysparm_offset");
    expect(rel("first")).toBe("0");
    expect(rel("prev")).toBe("0");
    expect(rel("next")).toBe("4");
    expect(rel("last")).toBe("4");
    // The client loop of the note: offset += limit until offset >= X-Total-Count.
    const seen: string[] = [];
    for (let offset = 0, total = 1; offset < total; offset += 2) {
      const p = await api(
        "GET",
        `/api/now/table/sc_req_item?sysparm_query=short_descriptionSTARTSWITHpage&sysparm_limit=2&sysparm_offset=${offset}`,
      );
      total = Number(p.headers.get("x-total-count"));
      seen.push(...p.json.result.map((x: { short_description: string }) => x.short_description));
    }
    expect(seen.sort()).toEqual(["page 0", "page 1", "page 2", "page 3", "page 4"]);
    const s = await api("GET", "/api/now/table/sc_req_item?sysparm_limit=2&sysparm_suppress_pagination_header=true&sysparm_no_count=true");
    expect(s.headers.get("link")).toBeNull();
    expect(s.headers.get("x-total-count")).toBeNull();
  });
});

describe("authentication", () => {
  const token = async (form: Record<string, string>) => {
    const r = await fetch(`${fake.url}/oauth_token.do`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
    });
    // biome-ignore lint/suspicious/noExplicitAny: test JSON
    return { status: r.status, json: (await r.json()) as any };
  };
  const client = { client_id: "mcp-adapter", client_secret: "mcp-adapter-secret" };

  it("HTTP Basic", async () => {
    expect((await api("GET", "/api/now/table/incident?sysparm_limit=1", undefined, ADMIN)).status).toBe(200);
  });

  it("OAuth password grant → Bearer token; refresh_token grant; client_credentials grant", async () => {
    const t = await token({ ...client, grant_type: "password", username: "itil.agent", password: "itil-password" });
    expect(t.status).toBe(200);
    expect(t.json).toMatchObject({ token_type: "Bearer", expires_in: 60, scope: expect.any(String) });
    expect(typeof t.json.access_token).toBe("string");
    expect(typeof t.json.refresh_token).toBe("string");
    const me = await api("POST", "/api/now/table/incident", { short_description: "oauth" }, `Bearer ${t.json.access_token}`);
    expect(me.status).toBe(201);
    expect(me.json.result.sys_created_by).toBe("itil.agent");
    const r = await token({ ...client, grant_type: "refresh_token", refresh_token: t.json.refresh_token });
    expect(r.status).toBe(200);
    expect(r.json.access_token).not.toBe(t.json.access_token);
    const cc = await token({ ...client, grant_type: "client_credentials" });
    expect(cc.status).toBe(200);
    expect((await api("GET", "/api/now/table/incident?sysparm_limit=1", undefined, `Bearer ${cc.json.access_token}`)).status).toBe(200);
  });

  it("refused grants answer 401 access_denied; an expired token is 401", async () => {
    expect((await token({ ...client, grant_type: "password", username: "itil.agent", password: "wrong" })).status).toBe(401);
    expect((await token({ client_id: "mcp-adapter", client_secret: "wrong", grant_type: "client_credentials" })).json).toEqual({
      error_description: "access_denied",
      error: "server_error",
    });
    const t = await token({ ...client, grant_type: "client_credentials" });
    fake.expireTokens();
    expect((await api("GET", "/api/now/table/incident", undefined, `Bearer ${t.json.access_token}`)).status).toBe(401);
  });
});

describe("rate limiting", () => {
  it("answers 429 with Retry-After while limited, then serves again", async () => {
    fake.rateLimitNext(1, 7);
    const r = await api("GET", "/api/now/table/incident?sysparm_limit=1");
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("7");
    expect(r.json.status).toBe("failure");
    expect((await api("GET", "/api/now/table/incident?sysparm_limit=1")).status).toBe(200);
  });
});

describe("journal fields (fake-specific)", () => {
  it("work_notes are appended to sys_journal_field, read back as '' or the entries with display values", async () => {
    const inc = (await api("POST", "/api/now/table/incident", { short_description: "journal", work_notes: "first note" })).json.result;
    expect(inc.work_notes).toBe("");
    await api("PATCH", `/api/now/table/incident/${inc.sys_id}`, { work_notes: "second note" });
    const j = await api(
      "GET",
      `/api/now/table/sys_journal_field?sysparm_query=element_id=${inc.sys_id}^element=work_notes`,
      undefined,
      ADMIN,
    );
    expect(j.json.result.map((x: { value: string }) => x.value).sort()).toEqual(["first note", "second note"]);
    const shown = (await api("GET", `/api/now/table/incident/${inc.sys_id}?sysparm_display_value=true`)).json.result.work_notes;
    expect(shown).toContain("second note");
    expect(shown).toContain("(Work notes)");
  });
});
