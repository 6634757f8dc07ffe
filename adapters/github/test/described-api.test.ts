// The GitHub tools that no recording covers (comments, pull requests, some searches and updates)
// against GitHub's own OpenAPI description (@octokit/openapi, cached by the openapi adapter's fixture
// step): every request must be a described operation (method and path template), send only described
// query parameters, and carry a body valid against the operation's request schema; the stand-in
// answers with the operation's documented example, which the tool must turn into valid output.

import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGitHubServer, serveHttp, TOKEN_HEADER, tokenFromHeader } from "../src/index.ts";

const DESCRIPTION = fileURLToPath(new URL("../../../.cache/openapi-fixtures/github-23.0.2/api.github.com.json", import.meta.url));

type Json = Record<string, unknown>;
interface Operation {
  operationId: string;
  parameters?: Array<{ name: string; in: string } | { $ref: string }>;
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses: Record<string, { content?: Record<string, { examples?: Record<string, { $ref?: string; value?: unknown }> }> }>;
}
interface Seen {
  operationId: string;
  problems: string[];
}

let spec: {
  paths: Record<string, Record<string, Operation>>;
  components: Json & { examples: Record<string, { value: unknown }>; parameters: Json };
};
let ops: Array<{ method: string; re: RegExp; op: Operation; template: string }>;
let ajv: Ajv;
let api: Server;
let client: Client;
let http: { url: string; close(): Promise<void> };
const seen: Seen[] = [];

const deref = <T>(x: T | { $ref: string }): T => {
  const ref = (x as { $ref?: string }).$ref;
  if (!ref) return x as T;
  return ref
    .slice(2)
    .split("/")
    .reduce<unknown>((o, k) => (o as Json)[k], spec) as T;
};

beforeAll(async () => {
  if (!existsSync(DESCRIPTION))
    throw new Error(`${DESCRIPTION} is missing: run bash adapters/openapi/scripts/install-test-fixtures.sh (npm test does)`);
  spec = JSON.parse(readFileSync(DESCRIPTION, "utf8"));
  ops = [];
  for (const [template, item] of Object.entries(spec.paths)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
    for (const [method, op] of Object.entries(item))
      if (typeof op === "object" && "responses" in op) ops.push({ method: method.toUpperCase(), re, op, template });
  }
  // Fixed paths before templated ones (/user/repos before /users/{username}/repos is irrelevant, but /repos/{o}/{r}/pulls/{n}/merge must not match a shorter template).
  ops.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  // The description's schemas refer to #/components/…: compile them against the whole document.
  // OpenAPI 3.0 `nullable` without `type` (a few of GitHub's schemas) is an error for Ajv: drop it there.
  const clean = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(clean);
    else if (x && typeof x === "object") {
      const o = x as Json;
      if ("nullable" in o && !("type" in o)) delete o.nullable;
      Object.values(o).forEach(clean);
    }
  };
  clean(spec.components.schemas);
  clean(spec.paths);
  ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ components: spec.components }, "github");

  api = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString("utf8");
    });
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://github.test");
      const match = ops.find((o) => o.method === req.method && o.re.test(url.pathname));
      if (!match) {
        seen.push({ operationId: `(none) ${req.method} ${url.pathname}`, problems: ["no described operation"] });
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "Not Found" }));
        return;
      }
      const problems: string[] = [];
      if (req.headers.authorization !== "token gh-test-token") problems.push(`authorization ${req.headers.authorization}`);
      if (!String(req.headers.accept).startsWith("application/vnd.github")) problems.push(`accept ${req.headers.accept}`);
      const query = new Set(
        (match.op.parameters ?? [])
          .map((p) => deref<{ name: string; in: string }>(p))
          .filter((p) => p.in === "query")
          .map((p) => p.name),
      );
      for (const k of url.searchParams.keys()) if (!query.has(k)) problems.push(`undescribed query parameter ${k}`);
      const schema = match.op.requestBody?.content?.["application/json"]?.schema;
      if (schema) {
        try {
          const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"github#/components/')));
          if (!validate(JSON.parse(body || "null"))) problems.push(`body: ${ajv.errorsText(validate.errors)}`);
        } catch (err) {
          problems.push(`body not checked: ${(err as Error).message}`);
        }
      } else if (body) problems.push("a body for an operation without one");
      seen.push({ operationId: match.op.operationId, problems });
      const [status, response] = Object.entries(match.op.responses).find(([s]) => /^2/.test(s))!;
      const example = Object.values(response.content?.["application/json"]?.examples ?? {})[0];
      if (!example) {
        res.writeHead(Number(status)).end();
        return;
      }
      res
        .writeHead(Number(status), { "content-type": "application/json; charset=utf-8" })
        .end(JSON.stringify(deref<{ value: unknown }>(example as { $ref: string }).value));
    });
  });
  await new Promise<void>((r) => api.listen(0, "127.0.0.1", () => r()));
  http = await serveHttp(() =>
    createGitHubServer({ baseUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, token: tokenFromHeader }),
  );
  client = new Client({ name: "described", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers: { [TOKEN_HEADER]: "gh-test-token" } } }),
  );
  // The client validates structuredContent against each tool's outputSchema once it has listed them.
  await client.listTools();
}, 60_000);

afterAll(async () => {
  await client?.close();
  await http?.close();
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
});

const R = { owner: "octocat", repo: "Hello-World" };
const CASES: Array<[tool: string, args: Json, operationId: string]> = [
  ["list_repositories", { owner: "octocat" }, "repos/list-for-user"],
  ["list_repositories", { owner: "github", owner_type: "org", per_page: 5 }, "repos/list-for-org"],
  ["get_issue", { ...R, issue_number: 1347 }, "issues/get"],
  ["update_issue", { ...R, issue_number: 1347, state: "closed", state_reason: "completed", labels: ["bug"] }, "issues/update"],
  ["list_issue_comments", { ...R, issue_number: 1347 }, "issues/list-comments"],
  ["create_issue_comment", { ...R, issue_number: 1347, body: "Me too" }, "issues/create-comment"],
  ["list_pull_requests", { ...R, state: "open", base: "main" }, "pulls/list"],
  ["get_pull_request", { ...R, pull_number: 1347 }, "pulls/get"],
  [
    "create_pull_request",
    { ...R, title: "Amazing new feature", head: "octocat:new-feature", base: "master", body: "Please pull" },
    "pulls/create",
  ],
  ["merge_pull_request", { ...R, pull_number: 1347, merge_method: "squash" }, "pulls/merge"],
  ["search_repositories", { q: "tetris language:assembly" }, "search/repos"],
  ["search_code", { q: "addClass in:file language:js repo:jquery/jquery" }, "search/code"],
  ["list_issues", { ...R, state: "all", labels: "bug,ui", max_items: 5 }, "issues/list-for-repo"],
  ["read_file", { ...R, path: "README.md", ref: "main" }, "repos/get-content"],
];

describe("tools without recordings, against GitHub's OpenAPI description", () => {
  it.each(CASES)("%s → %s", async (tool, args, operationId) => {
    const before = seen.length;
    const r = (await client.callTool({ name: tool, arguments: args })) as { isError?: boolean; content: Array<{ text?: string }> };
    expect(seen.slice(before).map((s) => s.operationId)).toEqual([operationId]);
    expect(seen.slice(before)[0]!.problems).toEqual([]);
    if (tool === "read_file") return; // the description's example is JSON, not the raw file body this tool asks for
    expect(r.isError, r.content[0]?.text).toBeFalsy();
  });

  it("the stand-in is strict: an undescribed route, query parameter or body is reported", async () => {
    const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const headers = { authorization: "token gh-test-token", accept: "application/vnd.github.v3+json", "content-type": "application/json" };
    const before = seen.length;
    await (await fetch(`${base}/repos/o/r/issues/1/comments`, { method: "POST", headers, body: JSON.stringify({ text: "x" }) })).text();
    await (await fetch(`${base}/repos/o/r/pulls?colour=blue`, { headers })).text();
    await (await fetch(`${base}/repos/o/r/nothing-here`, { headers })).text();
    const [a, b, c] = seen.slice(before);
    expect(a!.problems.join()).toMatch(/body: .*must have required property 'body'/);
    expect(b!.problems).toEqual(["undescribed query parameter colour"]);
    expect(c!.problems).toEqual(["no described operation"]);
  });
});
