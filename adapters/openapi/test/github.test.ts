// GitHub's official REST description (@octokit/openapi, 1,223 operations) through the adapter: valid,
// unique names; schemas the MCP SDK client accepts; calls shaped exactly as the description says.

import { readFileSync } from "node:fs";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenApiServer, type OpenApiServer } from "../src/index.ts";
import { ensureFixtures, githubDescription, memoryClient, type RecordingApi, startRecordingApi } from "./helpers.ts";

type Obj = Record<string, unknown>;
let doc: Obj;
let server: OpenApiServer;
let client: Client;
let api: RecordingApi;

function pointer(ref: string): unknown {
  return ref
    .slice(2)
    .split("/")
    .reduce<unknown>((o, k) => (o as Obj)[k.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
}
function deref<T>(v: unknown): T {
  let cur = v as Obj;
  while (cur && typeof cur.$ref === "string") cur = pointer(cur.$ref) as Obj;
  return cur as T;
}
function operation(id: string): { method: string; path: string; op: Obj } {
  for (const [path, item] of Object.entries(doc.paths as Obj)) {
    for (const [method, op] of Object.entries(item as Obj)) if ((op as Obj).operationId === id) return { method, path, op: op as Obj };
  }
  throw new Error(id);
}
/** The description's own example answer for an operation's success status. */
function example(id: string, status: string): unknown {
  const { op } = operation(id);
  const media = (deref<Obj>((op.responses as Obj)[status]).content as Obj)["application/json"] as Obj;
  const ex = deref<Obj>(Object.values(media.examples as Obj)[0]);
  return ex.value;
}

/** An independent check of a sent body: ajv on the description's own (3.0) schema, refs into the document. */
let ajv: Ajv;
function bodyValid(id: string, body: unknown): boolean {
  const { op } = operation(id);
  const schema = ((deref<Obj>(op.requestBody).content as Obj)["application/json"] as Obj).schema;
  const v = ajv.compile(
    JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"gh#/components/'), (k, x) => (k === "nullable" ? undefined : x)),
  );
  return v(body) as boolean;
}

beforeAll(async () => {
  ensureFixtures();
  doc = JSON.parse(readFileSync(githubDescription, "utf8"));
  ajv = new Ajv({ strict: false, logger: false });
  // ajv refuses 3.0's `nullable` without `type`; dropping it only makes the check stricter.
  const components = JSON.parse(JSON.stringify(doc.components), (k, v) => (k === "nullable" ? undefined : v));
  ajv.addSchema({ $id: "gh", components } as Obj, "gh");
  api = await startRecordingApi();
  server = await createOpenApiServer({ document: githubDescription, options: { baseUrl: api.url } });
  client = await memoryClient(server);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
  await api?.close();
});

describe("GitHub's REST description", () => {
  it("gives one tool per operation with valid, unique names of at most 64 characters", () => {
    let operations = 0;
    for (const item of Object.values(doc.paths as Obj)) {
      for (const m of Object.keys(item as Obj)) if (["get", "put", "post", "delete", "patch", "head", "options"].includes(m)) operations++;
    }
    expect(operations).toBe(1223);
    expect(server.tools).toHaveLength(operations);
    expect(server.skipped).toEqual([]);
    const names = server.tools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
    expect(names).toContain("repos_get");
    expect(names).toContain("issues_create");
  });

  it("lists tools the MCP SDK client accepts (its Tool schema, and its ajv compile of every outputSchema)", async () => {
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(1223);
    const create = tools.find((t) => t.name === "issues_create")!;
    expect(create.title).toBe("Create an issue");
    expect(create.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: false });
    expect(create.inputSchema.required).toEqual(["owner", "repo", "body"]);
    expect(tools.find((t) => t.name === "repos_get")!.annotations?.readOnlyHint).toBe(true);
    expect(tools.find((t) => t.name === "repos_delete")!.annotations?.destructiveHint).toBe(true);
    // Every schema survives JSON (no cycles left) and has the object root MCP requires.
    for (const t of tools) {
      expect(t.inputSchema.type).toBe("object");
      if (t.outputSchema) expect(t.outputSchema.type).toBe("object");
    }
    expect(() => JSON.stringify(tools)).not.toThrow();
  }, 120_000);

  it("every tool's inputSchema compiles with the adapter's validator (the first call of each compiles it)", async () => {
    const { Validators } = await import("../src/index.ts");
    const v = new Validators();
    const failed: string[] = [];
    for (const t of server.tools) {
      try {
        v.input(t);
      } catch (e) {
        failed.push(`${t.name}: ${(e as Error).message}`);
      }
    }
    expect(failed).toEqual([]);
  }, 180_000);

  it("repos/get: GET /repos/{owner}/{repo}, Accept from the description, the example answer as structuredContent", async () => {
    api.requests.length = 0;
    const answer = example("repos/get", "200");
    api.respond = (_r, res) => res.writeHead(200, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(answer));
    const r = await client.callTool({ name: "repos_get", arguments: { owner: "octo org", repo: "hello-world" } });
    expect(r.isError).toBeFalsy();
    expect(api.requests).toHaveLength(1);
    const sent = api.requests[0]!;
    expect(sent.method).toBe("GET");
    expect(sent.url).toBe("/repos/octo%20org/hello-world");
    expect(sent.headers.accept).toBe("application/json");
    expect(sent.body).toBe("");
    expect(r.structuredContent).toEqual(answer);
  });

  it("issues/create: POST with a JSON body the description's own schema accepts; 201 example returned", async () => {
    api.requests.length = 0;
    const answer = example("issues/create", "201");
    api.respond = (_r, res) => res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(answer));
    const body = { title: "Found a bug", body: "It breaks", labels: ["bug", { name: "ui" }], assignees: ["octocat"], milestone: 1 };
    const r = await client.callTool({ name: "issues_create", arguments: { owner: "octocat", repo: "hello-world", body } });
    expect(r.isError).toBeFalsy();
    const sent = api.requests[0]!;
    expect(sent.method).toBe("POST");
    expect(sent.url).toBe("/repos/octocat/hello-world/issues");
    expect(sent.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(sent.body)).toEqual(body);
    expect(bodyValid("issues/create", JSON.parse(sent.body))).toBe(true);
    expect(r.structuredContent).toEqual(answer);
  });

  it("search/repos and issues/list-for-repo: query parameters in form style, enums and formats checked first", async () => {
    api.requests.length = 0;
    api.respond = (_r, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(example("search/repos", "200")));
    const r = await client.callTool({
      name: "search_repos",
      arguments: { q: "tetris language:assembly", sort: "stars", order: "desc", per_page: 5 },
    });
    expect(r.isError).toBeFalsy();
    expect(api.requests[0]!.url).toBe("/search/repositories?q=tetris%20language%3Aassembly&sort=stars&order=desc&per_page=5");

    api.respond = (_r, res) => res.writeHead(200, { "content-type": "application/json" }).end("[]");
    await client.callTool({
      name: "issues_list-for-repo",
      arguments: { owner: "o", repo: "r", labels: "bug,ui,@high", state: "open", since: "2024-01-02T03:04:05Z" },
    });
    expect(api.requests[1]!.url).toBe("/repos/o/r/issues?state=open&labels=bug%2Cui%2C%40high&since=2024-01-02T03%3A04%3A05Z");

    const before = api.requests.length;
    const bad = await client.callTool({ name: "issues_list-for-repo", arguments: { owner: "o", repo: "r", state: "maybe" } });
    expect(bad.isError).toBe(true);
    expect((bad.content as { text: string }[])[0]!.text).toMatch(/^INVALID_ARGUMENTS: \/state must be equal to one of the allowed values/);
    const badDate = await client.callTool({ name: "issues_list-for-repo", arguments: { owner: "o", repo: "r", since: "yesterday" } });
    expect((badDate.content as { text: string }[])[0]!.text).toMatch(/^INVALID_ARGUMENTS: \/since must match format "date-time"/);
    const badReaction = await client.callTool({
      name: "reactions_create-for-issue",
      arguments: { owner: "o", repo: "r", issue_number: 1, body: { content: "sad" } },
    });
    expect(badReaction.isError).toBe(true);
    expect(api.requests.length).toBe(before);
  });

  it("a 404 from the API is a tool result with isError, status and body summary", async () => {
    api.respond = (_r, res) =>
      res
        .writeHead(404, { "content-type": "application/json" })
        .end('{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}');
    const r = await client.callTool({ name: "repos_get", arguments: { owner: "nobody", repo: "nothing" } });
    expect(r.isError).toBe(true);
    expect((r.content as { text: string }[])[0]!.text).toBe(
      'HTTP_CLIENT_ERROR: GET /repos/{owner}/{repo} answered 404: {"message":"Not Found","documentation_url":"https://docs.github.com/rest"}',
    );
  });
});
