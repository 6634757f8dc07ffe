// The GitHub adapter's tools: a curated set over repositories, contents, issues and comments, labels,
// pull requests and search, each with an input and output schema, annotations and compact results.

import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Octokit } from "@octokit/rest";
import { z } from "zod";
import { type ClientOptions, describeGitHubError, githubClient } from "./client.ts";

/** Where the token of a call comes from: the injected header (HTTP) or the environment (stdio). */
export type TokenSource = (headers: Record<string, string | string[] | undefined> | undefined) => string | undefined;

export interface GitHubToolsOptions extends ClientOptions {
  token: TokenSource;
  /** Largest file text returned by read_file, in bytes (default 1 MiB). */
  maxFileBytes?: number;
  /** Hard cap on items gathered by list tools that follow pages (default 1000). */
  maxItems?: number;
}

// ---- result shapes (compact projections of GitHub's objects) -----------------------------------

const login = z.string().nullable();
const repositorySchema = z.object({
  full_name: z.string(),
  name: z.string(),
  owner: z.string(),
  description: z.string().nullable(),
  private: z.boolean(),
  html_url: z.string(),
  default_branch: z.string().nullable(),
  language: z.string().nullable(),
  stargazers_count: z.number(),
  forks_count: z.number(),
  open_issues_count: z.number(),
  archived: z.boolean(),
  pushed_at: z.string().nullable(),
});
const issueSchema = z.object({
  number: z.number(),
  title: z.string(),
  state: z.string(),
  body: z.string().nullable(),
  user: login,
  labels: z.array(z.string()),
  assignees: z.array(z.string()),
  comments: z.number(),
  html_url: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  closed_at: z.string().nullable(),
  is_pull_request: z.boolean(),
});
const commentSchema = z.object({ id: z.number(), body: z.string().nullable(), user: login, html_url: z.string(), created_at: z.string() });
const labelSchema = z.object({ name: z.string(), color: z.string(), description: z.string().nullable() });
const pullSchema = z.object({
  number: z.number(),
  title: z.string(),
  state: z.string(),
  draft: z.boolean(),
  merged: z.boolean().nullable(),
  user: login,
  head: z.string(),
  base: z.string(),
  body: z.string().nullable(),
  html_url: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});
const entrySchema = z.object({ name: z.string(), path: z.string(), type: z.string(), size: z.number(), sha: z.string() });

type Obj = Record<string, unknown>;

const rootContentsFetch: typeof fetch = (input, init) => {
  const u = new URL(input instanceof Request ? input.url : String(input));
  if (u.pathname.endsWith("/contents")) u.pathname += "/";
  return fetch(u, init);
};
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const loginOf = (u: unknown): string | null => str((u as Obj | null)?.login);

const repository = (r: Obj): z.infer<typeof repositorySchema> => ({
  full_name: String(r.full_name),
  name: String(r.name),
  owner: loginOf(r.owner) ?? "",
  description: str(r.description),
  private: r.private === true,
  html_url: String(r.html_url),
  default_branch: str(r.default_branch),
  language: str(r.language),
  stargazers_count: num(r.stargazers_count),
  forks_count: num(r.forks_count),
  open_issues_count: num(r.open_issues_count),
  archived: r.archived === true,
  pushed_at: str(r.pushed_at),
});
const labelNames = (ls: unknown): string[] =>
  Array.isArray(ls) ? ls.map((l) => (typeof l === "string" ? l : String((l as Obj).name))) : [];
const issue = (i: Obj): z.infer<typeof issueSchema> => ({
  number: num(i.number),
  title: String(i.title),
  state: String(i.state),
  body: str(i.body),
  user: loginOf(i.user),
  labels: labelNames(i.labels),
  assignees: Array.isArray(i.assignees) ? i.assignees.map((a) => loginOf(a) ?? "") : [],
  comments: num(i.comments),
  html_url: String(i.html_url),
  created_at: String(i.created_at),
  updated_at: String(i.updated_at),
  closed_at: str(i.closed_at),
  is_pull_request: i.pull_request !== undefined && i.pull_request !== null,
});
const comment = (c: Obj) => ({
  id: num(c.id),
  body: str(c.body),
  user: loginOf(c.user),
  html_url: String(c.html_url),
  created_at: String(c.created_at),
});
const label = (l: Obj) => ({ name: String(l.name), color: String(l.color), description: str(l.description) });
const pull = (p: Obj): z.infer<typeof pullSchema> => ({
  number: num(p.number),
  title: String(p.title),
  state: String(p.state),
  draft: p.draft === true,
  merged: typeof p.merged === "boolean" ? p.merged : null,
  user: loginOf(p.user),
  head: String((p.head as Obj | undefined)?.ref ?? ""),
  base: String((p.base as Obj | undefined)?.ref ?? ""),
  body: str(p.body),
  html_url: String(p.html_url),
  created_at: String(p.created_at),
  updated_at: String(p.updated_at),
});
const entry = (e: Obj) => ({ name: String(e.name), path: String(e.path), type: String(e.type), size: num(e.size), sha: String(e.sha) });

// ---- inputs -------------------------------------------------------------------------------------

// GitHub's own limits: owner ≤ 39 chars of [A-Za-z0-9-], repository names of [A-Za-z0-9._-].
const owner = z
  .string()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, "a GitHub user or organization name")
  .describe("Repository owner (user or organization)");
const repo = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, "a repository name")
  .describe("Repository name");
const repoArgs = { owner, repo };
const issueNumber = z.number().int().positive().describe("Issue or pull request number");
const perPage = z.number().int().min(1).max(100).optional().describe("Page size GitHub uses (1-100, default GitHub's 30)");
const maxItems = z.number().int().min(1).max(1000).optional().describe("Stop after this many items, following pages (default 100)");
const filePath = z
  .string()
  .max(1000)
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), "no . or .. segments")
  .describe("Path in the repository");
const ref = z.string().min(1).max(255).optional().describe("Branch, tag or commit (default: the default branch)");

// ---- annotations --------------------------------------------------------------------------------

const READ = { readOnlyHint: true, openWorldHint: true } as const;
const WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true } as const;
const UPDATE = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;
const DESTRUCTIVE = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true } as const;

export type Action = "read" | "write" | "execute";

/**
 * Register the GitHub tools on `server`. Returns each tool's action under the gateway's annotation
 * rule (readOnlyHint → read, destructiveHint → write, else execute), for `servers.github.authz.actions`.
 */
export function registerGitHubTools(server: McpServer, o: GitHubToolsOptions): Record<string, Action> {
  const actions: Record<string, Action> = {};
  const timeoutMs = o.timeoutMs ?? 15_000;
  const maxFileBytes = o.maxFileBytes ?? 1024 * 1024;
  const hardMax = o.maxItems ?? 1000;

  type Extra = { signal: AbortSignal; requestInfo?: { headers: Record<string, string | string[] | undefined> } };
  type Result = { content: { type: "text"; text: string }[]; structuredContent?: Obj; isError?: boolean };
  const fail = (text: string): Result => ({ content: [{ type: "text", text }], isError: true });

  function tool<I extends z.ZodRawShape, O extends z.ZodRawShape>(
    name: string,
    def: { title: string; description: string; input: I; output: O; annotations: Obj },
    run: (gh: Octokit, args: z.infer<z.ZodObject<I>>) => Promise<z.infer<z.ZodObject<O>>>,
  ): void {
    const a = def.annotations as { readOnlyHint?: boolean; destructiveHint?: boolean };
    actions[name] = a.readOnlyHint ? "read" : a.destructiveHint ? "write" : "execute";
    server.registerTool(
      name,
      { title: def.title, description: def.description, inputSchema: def.input, outputSchema: def.output, annotations: def.annotations },
      // biome-ignore lint/suspicious/noExplicitAny: the SDK's callback type is generic over the shape
      (async (args: any, extra: Extra): Promise<Result> => {
        const token = o.token(extra.requestInfo?.headers);
        if (!token) return fail("no GitHub credential: the gateway injects it as the X-GitHub-Token header (stdio: GITHUB_TOKEN)");
        try {
          const out = (await run(githubClient(token, o, extra.signal), args)) as Obj;
          return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
        } catch (err) {
          return fail(describeGitHubError(err, timeoutMs, token));
        }
        // biome-ignore lint/suspicious/noExplicitAny: see above
      }) as any,
    );
  }

  /** Follow `Link: rel="next"` pages until `limit` items (GitHub's own page URLs, as recorded). */
  async function collect(
    gh: Octokit,
    route: string,
    params: Obj,
    limit: number | undefined,
  ): Promise<{ items: Obj[]; truncated: boolean }> {
    const max = Math.min(limit ?? 100, hardMax);
    const items: Obj[] = [];
    let truncated = false;
    for await (const page of gh.paginate.iterator(route, params)) {
      for (const it of page.data as Obj[]) {
        if (items.length >= max) {
          truncated = true;
          break;
        }
        items.push(it);
      }
      if (truncated || items.length >= max) {
        truncated ||= Boolean((page.headers.link ?? "").includes('rel="next"'));
        break;
      }
    }
    return { items, truncated };
  }

  // ---- repositories ----
  tool(
    "get_repository",
    {
      title: "Get repository",
      description: "A repository's metadata.",
      input: repoArgs,
      output: repositorySchema.shape,
      annotations: READ,
    },
    async (gh, a) => repository((await gh.rest.repos.get(a)).data as Obj),
  );
  tool(
    "list_repositories",
    {
      title: "List repositories",
      description: "Repositories of a user or organization the token can see.",
      input: { owner, owner_type: z.enum(["user", "org"]).default("user"), per_page: perPage, max_items: maxItems },
      output: { repositories: z.array(repositorySchema), truncated: z.boolean() },
      annotations: READ,
    },
    async (gh, a) => {
      const route = a.owner_type === "org" ? "GET /orgs/{org}/repos" : "GET /users/{username}/repos";
      const params = a.owner_type === "org" ? { org: a.owner } : { username: a.owner };
      const r = await collect(gh, route, a.per_page ? { ...params, per_page: a.per_page } : params, a.max_items);
      return { repositories: r.items.map(repository), truncated: r.truncated };
    },
  );

  // ---- contents ----
  tool(
    "list_directory",
    {
      title: "List directory",
      description: "Entries of a directory in a repository (path '' is the root).",
      input: { ...repoArgs, path: filePath.default(""), ref },
      output: { entries: z.array(entrySchema) },
      annotations: READ,
    },
    async (gh, a) => {
      const { data } = await gh.rest.repos.getContent({
        owner: a.owner,
        repo: a.repo,
        path: a.path,
        ...(a.ref ? { ref: a.ref } : {}),
        // GitHub documents the root listing as .../contents/ (path empty); Octokit's URL template drops
        // a trailing slash, so the root request is sent as documented (and as GitHub's recordings have it).
        ...(a.path === "" ? { request: { fetch: rootContentsFetch } } : {}),
      });
      if (!Array.isArray(data)) throw new Error(`${a.path} is a ${(data as Obj).type}, not a directory: use read_file`);
      return { entries: (data as Obj[]).map(entry) };
    },
  );
  tool(
    "read_file",
    {
      title: "Read file",
      description: "The text of a file in a repository (raw media type).",
      input: { ...repoArgs, path: filePath.refine((p) => p !== "", "a file path"), ref },
      output: { path: z.string(), content: z.string(), bytes: z.number(), truncated: z.boolean() },
      annotations: READ,
    },
    async (gh, a) => {
      const { data } = await gh.rest.repos.getContent({
        owner: a.owner,
        repo: a.repo,
        path: a.path,
        ...(a.ref ? { ref: a.ref } : {}),
        mediaType: { format: "raw" },
      });
      if (typeof data !== "string") throw new Error(`${a.path} is not a file: use list_directory`);
      const bytes = Buffer.byteLength(data, "utf8");
      const truncated = bytes > maxFileBytes;
      return {
        path: a.path,
        content: truncated ? Buffer.from(data, "utf8").subarray(0, maxFileBytes).toString("utf8") : data,
        bytes,
        truncated,
      };
    },
  );
  tool(
    "create_or_update_file",
    {
      title: "Create or update file",
      description: "Commit a text file. Updating an existing file needs its current blob sha (from list_directory).",
      input: {
        ...repoArgs,
        path: filePath.refine((p) => p !== "", "a file path"),
        message: z.string().min(1).max(10_000).describe("Commit message"),
        content: z
          .string()
          .max(1024 * 1024)
          .describe("The file's new text (UTF-8)"),
        sha: z
          .string()
          .regex(/^[0-9a-f]{40}$/)
          .optional()
          .describe("Blob sha of the file being replaced"),
        branch: z.string().min(1).max(255).optional(),
      },
      output: { path: z.string(), sha: z.string(), commit: z.string(), html_url: z.string().nullable() },
      annotations: DESTRUCTIVE,
    },
    async (gh, a) => {
      const { data } = await gh.rest.repos.createOrUpdateFileContents({
        owner: a.owner,
        repo: a.repo,
        path: a.path,
        message: a.message,
        content: Buffer.from(a.content, "utf8").toString("base64"),
        ...(a.sha ? { sha: a.sha } : {}),
        ...(a.branch ? { branch: a.branch } : {}),
      });
      const c = (data.content ?? {}) as Obj;
      return { path: String(c.path ?? a.path), sha: String(c.sha ?? ""), commit: String(data.commit.sha ?? ""), html_url: str(c.html_url) };
    },
  );

  // ---- issues and comments ----
  tool(
    "list_issues",
    {
      title: "List issues",
      description: "Issues (and pull requests, marked is_pull_request) of a repository, following pages up to max_items.",
      input: {
        ...repoArgs,
        state: z.enum(["open", "closed", "all"]).optional(),
        labels: z.string().max(1000).optional().describe("Comma-separated label names"),
        per_page: perPage,
        max_items: maxItems,
      },
      output: { issues: z.array(issueSchema), truncated: z.boolean() },
      annotations: READ,
    },
    async (gh, a) => {
      const params: Obj = { owner: a.owner, repo: a.repo };
      if (a.state) params.state = a.state;
      if (a.labels) params.labels = a.labels;
      if (a.per_page) params.per_page = a.per_page;
      const r = await collect(gh, "GET /repos/{owner}/{repo}/issues", params, a.max_items);
      return { issues: r.items.map(issue), truncated: r.truncated };
    },
  );
  tool(
    "get_issue",
    {
      title: "Get issue",
      description: "One issue.",
      input: { ...repoArgs, issue_number: issueNumber },
      output: issueSchema.shape,
      annotations: READ,
    },
    async (gh, a) => issue((await gh.rest.issues.get(a)).data as Obj),
  );
  tool(
    "create_issue",
    {
      title: "Create issue",
      description: "Open an issue.",
      input: {
        ...repoArgs,
        title: z.string().min(1).max(256),
        body: z.string().max(65_536).optional(),
        labels: z.array(z.string().min(1).max(50)).max(100).optional(),
        assignees: z.array(z.string().min(1).max(39)).max(10).optional(),
      },
      output: issueSchema.shape,
      annotations: WRITE,
    },
    async (gh, a) => issue((await gh.rest.issues.create(a)).data as Obj),
  );
  tool(
    "update_issue",
    {
      title: "Update issue",
      description: "Change an issue's title, body, state (close / reopen), labels or assignees.",
      input: {
        ...repoArgs,
        issue_number: issueNumber,
        title: z.string().min(1).max(256).optional(),
        body: z.string().max(65_536).optional(),
        state: z.enum(["open", "closed"]).optional(),
        state_reason: z.enum(["completed", "not_planned", "reopened"]).optional(),
        labels: z.array(z.string().min(1).max(50)).max(100).optional(),
        assignees: z.array(z.string().min(1).max(39)).max(10).optional(),
      },
      output: issueSchema.shape,
      annotations: UPDATE,
    },
    async (gh, a) => issue((await gh.rest.issues.update(a)).data as Obj),
  );
  tool(
    "list_issue_comments",
    {
      title: "List issue comments",
      description: "Comments on an issue or pull request.",
      input: { ...repoArgs, issue_number: issueNumber, per_page: perPage, max_items: maxItems },
      output: { comments: z.array(commentSchema), truncated: z.boolean() },
      annotations: READ,
    },
    async (gh, a) => {
      const params: Obj = { owner: a.owner, repo: a.repo, issue_number: a.issue_number };
      if (a.per_page) params.per_page = a.per_page;
      const r = await collect(gh, "GET /repos/{owner}/{repo}/issues/{issue_number}/comments", params, a.max_items);
      return { comments: r.items.map(comment), truncated: r.truncated };
    },
  );
  tool(
    "create_issue_comment",
    {
      title: "Comment on issue",
      description: "Add a comment to an issue or pull request.",
      input: { ...repoArgs, issue_number: issueNumber, body: z.string().min(1).max(65_536) },
      output: commentSchema.shape,
      annotations: WRITE,
    },
    async (gh, a) => comment((await gh.rest.issues.createComment(a)).data as Obj),
  );

  // ---- labels ----
  // GitHub validates the color itself (422 "invalid" on field color): its answer is the clearer error.
  const color = z.string().min(1).max(20).describe("Six hex digits without #, e.g. 663399");
  tool(
    "list_labels",
    {
      title: "List labels",
      description: "Labels of a repository.",
      input: { ...repoArgs, per_page: perPage, max_items: maxItems },
      output: { labels: z.array(labelSchema), truncated: z.boolean() },
      annotations: READ,
    },
    async (gh, a) => {
      const params: Obj = { owner: a.owner, repo: a.repo };
      if (a.per_page) params.per_page = a.per_page;
      const r = await collect(gh, "GET /repos/{owner}/{repo}/labels", params, a.max_items);
      return { labels: r.items.map(label), truncated: r.truncated };
    },
  );
  tool(
    "get_label",
    {
      title: "Get label",
      description: "One label.",
      input: { ...repoArgs, name: z.string().min(1).max(100) },
      output: labelSchema.shape,
      annotations: READ,
    },
    async (gh, a) => label((await gh.rest.issues.getLabel(a)).data as Obj),
  );
  tool(
    "create_label",
    {
      title: "Create label",
      description: "Create a label.",
      input: { ...repoArgs, name: z.string().min(1).max(100), color, description: z.string().max(100).optional() },
      output: labelSchema.shape,
      annotations: WRITE,
    },
    async (gh, a) => label((await gh.rest.issues.createLabel(a)).data as Obj),
  );
  tool(
    "update_label",
    {
      title: "Update label",
      description: "Rename a label or change its color / description.",
      input: {
        ...repoArgs,
        name: z.string().min(1).max(100),
        new_name: z.string().min(1).max(100).optional(),
        color: color.optional(),
        description: z.string().max(100).optional(),
      },
      output: labelSchema.shape,
      annotations: UPDATE,
    },
    async (gh, a) => label((await gh.rest.issues.updateLabel(a)).data as Obj),
  );
  tool(
    "delete_label",
    {
      title: "Delete label",
      description: "Delete a label (it disappears from every issue).",
      input: { ...repoArgs, name: z.string().min(1).max(100) },
      output: { deleted: z.string() },
      annotations: DESTRUCTIVE,
    },
    async (gh, a) => {
      await gh.rest.issues.deleteLabel(a);
      return { deleted: a.name };
    },
  );
  tool(
    "add_labels_to_issue",
    {
      title: "Add labels to issue",
      description: "Add labels to an issue; returns the issue's labels.",
      input: { ...repoArgs, issue_number: issueNumber, labels: z.array(z.string().min(1).max(50)).min(1).max(100) },
      output: { labels: z.array(labelSchema) },
      annotations: UPDATE,
    },
    async (gh, a) => ({ labels: ((await gh.rest.issues.addLabels(a)).data as Obj[]).map(label) }),
  );

  // ---- pull requests ----
  tool(
    "list_pull_requests",
    {
      title: "List pull requests",
      description: "Pull requests of a repository.",
      input: {
        ...repoArgs,
        state: z.enum(["open", "closed", "all"]).optional(),
        base: z.string().max(255).optional(),
        per_page: perPage,
        max_items: maxItems,
      },
      output: { pull_requests: z.array(pullSchema), truncated: z.boolean() },
      annotations: READ,
    },
    async (gh, a) => {
      const params: Obj = { owner: a.owner, repo: a.repo };
      if (a.state) params.state = a.state;
      if (a.base) params.base = a.base;
      if (a.per_page) params.per_page = a.per_page;
      const r = await collect(gh, "GET /repos/{owner}/{repo}/pulls", params, a.max_items);
      return { pull_requests: r.items.map(pull), truncated: r.truncated };
    },
  );
  tool(
    "get_pull_request",
    {
      title: "Get pull request",
      description: "One pull request.",
      input: { ...repoArgs, pull_number: issueNumber },
      output: pullSchema.shape,
      annotations: READ,
    },
    async (gh, a) => pull((await gh.rest.pulls.get(a)).data as Obj),
  );
  tool(
    "create_pull_request",
    {
      title: "Create pull request",
      description: "Open a pull request from head into base.",
      input: {
        ...repoArgs,
        title: z.string().min(1).max(256),
        head: z.string().min(1).max(255).describe("Branch with the changes (owner:branch across forks)"),
        base: z.string().min(1).max(255).describe("Branch to merge into"),
        body: z.string().max(65_536).optional(),
        draft: z.boolean().optional(),
      },
      output: pullSchema.shape,
      annotations: WRITE,
    },
    async (gh, a) => pull((await gh.rest.pulls.create(a)).data as Obj),
  );
  tool(
    "merge_pull_request",
    {
      title: "Merge pull request",
      description: "Merge a pull request into its base branch.",
      input: {
        ...repoArgs,
        pull_number: issueNumber,
        merge_method: z.enum(["merge", "squash", "rebase"]).optional(),
        commit_title: z.string().max(256).optional(),
      },
      output: { merged: z.boolean(), sha: z.string().nullable(), message: z.string() },
      annotations: { ...DESTRUCTIVE, idempotentHint: false },
    },
    async (gh, a) => {
      const { data } = await gh.rest.pulls.merge(a);
      return { merged: data.merged === true, sha: str(data.sha), message: String(data.message ?? "") };
    },
  );

  // ---- search ----
  const q = z.string().min(1).max(256).describe("GitHub search syntax, e.g. 'bug repo:owner/name is:open'");
  tool(
    "search_issues",
    {
      title: "Search issues",
      description: "Search issues and pull requests.",
      input: { q, per_page: perPage },
      output: { total_count: z.number(), incomplete_results: z.boolean(), issues: z.array(issueSchema) },
      annotations: READ,
    },
    async (gh, a) => {
      const { data } = await gh.rest.search.issuesAndPullRequests(a);
      return { total_count: data.total_count, incomplete_results: data.incomplete_results, issues: (data.items as Obj[]).map(issue) };
    },
  );
  tool(
    "search_repositories",
    {
      title: "Search repositories",
      description: "Search repositories.",
      input: { q, per_page: perPage },
      output: { total_count: z.number(), incomplete_results: z.boolean(), repositories: z.array(repositorySchema) },
      annotations: READ,
    },
    async (gh, a) => {
      const { data } = await gh.rest.search.repos(a);
      return {
        total_count: data.total_count,
        incomplete_results: data.incomplete_results,
        repositories: (data.items as Obj[]).map(repository),
      };
    },
  );
  tool(
    "search_code",
    {
      title: "Search code",
      description: "Search file contents.",
      input: { q, per_page: perPage },
      output: {
        total_count: z.number(),
        incomplete_results: z.boolean(),
        results: z.array(z.object({ path: z.string(), repository: z.string(), sha: z.string(), html_url: z.string() })),
      },
      annotations: READ,
    },
    async (gh, a) => {
      const { data } = await gh.rest.search.code(a);
      return {
        total_count: data.total_count,
        incomplete_results: data.incomplete_results,
        results: (data.items as Obj[]).map((i) => ({
          path: String(i.path),
          repository: String((i.repository as Obj).full_name),
          sha: String(i.sha),
          html_url: String(i.html_url),
        })),
      };
    },
  );
  return actions;
}
