// The GitHub adapter against GitHub's real recorded API exchanges (@octokit/fixtures-server), through
// the official MCP SDK client over Streamable HTTP and stdio: every request the adapter sends must match
// a recording exactly (method, path, query, body, token, media type), or the fixtures server answers 404.

import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURES_TOKEN, type FixturesServer, startFixturesServer } from "../src/fixtures/index.ts";
import { createGitHubServer, githubToolActions, serveHttp, TOKEN_HEADER, tokenFromHeader } from "../src/index.ts";

let fixtures: FixturesServer;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  fixtures = await startFixturesServer();
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await fixtures?.stop();
});

type CallResult = { isError?: boolean; structuredContent?: Record<string, unknown>; content: Array<{ type: string; text?: string }> };

/** An adapter over HTTP whose GitHub is `baseUrl`, and an SDK client sending `token` the way the gateway injects it. */
async function connect(baseUrl: string, token: string | null = FIXTURES_TOKEN, timeoutMs = 15_000) {
  const http = await serveHttp(() => createGitHubServer({ baseUrl, timeoutMs, token: tokenFromHeader }));
  const client = new Client({ name: "test", version: "1" });
  const headers: Record<string, string> = token ? { [TOKEN_HEADER]: token } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers } }));
  closers.push(
    () => client.close(),
    () => http.close(),
  );
  return {
    call: async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallResult,
    client,
  };
}

const scenario = async (name: string) => connect(await fixtures.load(name));
const O = { owner: "octokit-fixture-org" };

describe("tools/list", () => {
  it("every tool has an output schema and annotations, and no tool takes a credential", async () => {
    const { client } = await scenario("get-repository");
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThanOrEqual(20);
    for (const t of tools) {
      expect(t.outputSchema?.type, t.name).toBe("object");
      expect(typeof t.annotations?.readOnlyHint, t.name).toBe("boolean");
      const props = Object.keys((t.inputSchema.properties ?? {}) as object);
      expect(
        props.filter((p) => /token|auth|password|secret|credential/i.test(p)),
        t.name,
      ).toEqual([]);
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
    expect(byName.get_repository).toMatchObject({ readOnlyHint: true });
    expect(byName.create_issue).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(byName.delete_label).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    const actions = githubToolActions();
    expect(Object.keys(actions).sort()).toEqual(tools.map((t) => t.name).sort());
    expect([actions.search_code, actions.create_issue, actions.delete_label]).toEqual(["read", "execute", "write"]);
  });
});

describe("recorded scenarios", () => {
  it("get-repository", async () => {
    const { call } = await scenario("get-repository");
    const r = await call("get_repository", { ...O, repo: "hello-world" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({
      full_name: "octokit-fixture-org/hello-world",
      owner: "octokit-fixture-org",
      private: false,
    });
    expect(JSON.parse(r.content[0]!.text!)).toEqual(r.structuredContent);
  });

  it("get-content: a directory listing, then a file's raw text", async () => {
    const { call } = await scenario("get-content");
    const dir = await call("list_directory", { ...O, repo: "hello-world", path: "" });
    expect(dir.isError).toBeFalsy();
    const entries = dir.structuredContent!.entries as Array<{ name: string; type: string }>;
    expect(entries.map((e) => e.name)).toContain("README.md");
    const file = await call("read_file", { ...O, repo: "hello-world", path: "README.md" });
    expect(file.isError).toBeFalsy();
    expect(file.structuredContent).toMatchObject({ path: "README.md", truncated: false });
    expect(file.structuredContent!.content).toBe("# hello-world");
  });

  it("add-labels-to-issue: create an issue, then label it", async () => {
    const { call } = await scenario("add-labels-to-issue");
    const created = await call("create_issue", { ...O, repo: "add-labels-to-issue", title: "Issue without a label" });
    expect(created.isError).toBeFalsy();
    expect(created.structuredContent).toMatchObject({ number: 1, title: "Issue without a label", state: "open", labels: [] });
    const labelled = await call("add_labels_to_issue", {
      ...O,
      repo: "add-labels-to-issue",
      issue_number: 1,
      labels: ["Foo", "bAr", "baZ"],
    });
    expect(labelled.isError).toBeFalsy();
    expect((labelled.structuredContent!.labels as Array<{ name: string }>).map((l) => l.name)).toEqual(["Foo", "bAr", "baZ"]);
  });

  it("labels: list, create, get, update, delete", async () => {
    const { call } = await scenario("labels");
    const repo = { ...O, repo: "labels" };
    const list = await call("list_labels", repo);
    expect((list.structuredContent!.labels as Array<{ name: string }>).map((l) => l.name)).toContain("bug");
    expect((await call("create_label", { ...repo, name: "test-label", color: "663399" })).structuredContent).toMatchObject({
      name: "test-label",
      color: "663399",
    });
    expect((await call("get_label", { ...repo, name: "test-label" })).structuredContent).toMatchObject({ name: "test-label" });
    const upd = await call("update_label", { ...repo, name: "test-label", new_name: "test-label-updated", color: "BADA55" });
    expect(upd.structuredContent).toMatchObject({ name: "test-label-updated" });
    const del = await call("delete_label", { ...repo, name: "test-label-updated" });
    expect(del.isError).toBeFalsy();
    expect(del.structuredContent).toEqual({ deleted: "test-label-updated" });
  });

  it("errors: GitHub's 422 validation failure becomes a tool error naming the field", async () => {
    const { call } = await scenario("errors");
    const r = await call("create_label", { ...O, repo: "errors", name: "foo", color: "invalid" });
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toMatch(/GitHub answered 422: Validation Failed — Label color invalid/);
    expect(r.content[0]!.text).not.toContain(FIXTURES_TOKEN);
  });

  it("search-issues", async () => {
    const { call } = await scenario("search-issues");
    const r = await call("search_issues", { q: "sesame repo:octokit-fixture-org/search-issues" });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ total_count: 2, incomplete_results: false });
    expect((r.structuredContent!.issues as Array<{ title: string }>).map((i) => i.title)).toContain("Sesame seeds split without a pop!");
  });

  it("paginate-issues: follows GitHub's Link pages, as recorded", async () => {
    const { call } = await scenario("paginate-issues");
    const r = await call("list_issues", { ...O, repo: "paginate-issues", per_page: 3 });
    expect(r.isError).toBeFalsy();
    expect((r.structuredContent!.issues as unknown[]).length).toBe(13);
    expect(r.structuredContent!.truncated).toBe(false);
  });

  it("create-file: the text is sent base64-encoded", async () => {
    const { call } = await scenario("create-file");
    const r = await call("create_or_update_file", {
      ...O,
      repo: "create-file",
      path: "test.txt",
      message: "create test.txt",
      content: "Test content",
    });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ path: "test.txt", sha: "3f3f005b29247e51a4f4d6b8ce07b67646cd6074" });
  });
});

describe("credentials and failures", () => {
  it("no injected token: a tool error, GitHub is not called", async () => {
    const { call } = await connect(await fixtures.load("get-repository"), null);
    const r = await call("get_repository", { ...O, repo: "hello-world" });
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toMatch(/no GitHub credential.*X-GitHub-Token/);
  });

  it("a token the recording does not know: GitHub's refusal as a tool error", async () => {
    const { call } = await connect(await fixtures.load("get-repository"), "0000000000000000000000000000000000000002");
    const r = await call("get_repository", { ...O, repo: "hello-world" });
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toMatch(/^GitHub answered 404/);
    expect(r.content[0]!.text).not.toContain("0000000000000000000000000000000000000002");
  });

  it("bad arguments are refused before GitHub is called", async () => {
    const { call } = await scenario("get-repository");
    const r = await call("get_repository", { owner: "../etc", repo: "hello-world" });
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toMatch(/owner/);
    const p = await call("read_file", { ...O, repo: "hello-world", path: "a/../../secrets" });
    expect(p.isError).toBe(true);
    // The recording is still unconsumed: the refused calls sent nothing.
    expect((await call("get_repository", { ...O, repo: "hello-world" })).isError).toBeFalsy();
  });

  it("a GitHub that does not answer: a timeout tool error within the limit", async () => {
    const hang: Server = createServer(() => {});
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", () => r()));
    closers.push(
      () =>
        new Promise<void>((r) => {
          hang.closeAllConnections();
          hang.close(() => r());
        }),
    );
    const { port } = hang.address() as AddressInfo;
    const { call } = await connect(`http://127.0.0.1:${port}`, FIXTURES_TOKEN, 300);
    const started = Date.now();
    const r = await call("get_repository", { ...O, repo: "hello-world" });
    expect(r.isError).toBe(true);
    expect(r.content[0]!.text).toBe("GitHub did not answer within 300 ms");
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("stdio", () => {
  it("the CLI serves the same tools on stdio with the token from GITHUB_TOKEN", async () => {
    const base = await fixtures.load("get-repository");
    const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [cli, "--stdio", "--api-url", base],
      env: { PATH: process.env.PATH ?? "", GITHUB_TOKEN: FIXTURES_TOKEN },
      stderr: "pipe",
    });
    const client = new Client({ name: "stdio-test", version: "1" });
    await client.connect(transport);
    closers.push(() => client.close());
    const r = (await client.callTool({ name: "get_repository", arguments: { ...O, repo: "hello-world" } })) as CallResult;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ full_name: "octokit-fixture-org/hello-world" });
  });

  it("the HTTP CLI prints its URL and answers", async () => {
    const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
    const child = spawn(process.execPath, [cli, "--port", "0", "--api-url", await fixtures.load("get-repository")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    closers.push(async () => {
      child.kill("SIGTERM");
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (c) => reject(new Error(`exited ${c}`)));
    });
    const client = new Client({ name: "t", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { [TOKEN_HEADER]: FIXTURES_TOKEN } } }));
    closers.push(() => client.close());
    const r = (await client.callTool({ name: "get_repository", arguments: { ...O, repo: "hello-world" } })) as CallResult;
    expect(r.structuredContent).toMatchObject({ name: "hello-world" });
  });
});
