// The GitHub adapter as a library: build its MCP server (tools on @octokit/rest) and serve it over
// Streamable HTTP or stdio. The token comes from the gateway's injected header, or the environment.

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { type Action, type GitHubToolsOptions, registerGitHubTools, type TokenSource } from "./tools.ts";

export { serveStatelessHttp as serveHttp, serveStdioUntilEnd as serveStdio } from "@mcp-edge/adapter-kit";
export type { Action, GitHubToolsOptions, TokenSource };

/** Header the gateway injects the GitHub token in (`servers.github.credentials.inject.headers`). */
export const TOKEN_HEADER = "x-github-token";

/** Token of an HTTP request: the injected header only (never the adapter's environment). */
export const tokenFromHeader: TokenSource = (headers) => {
  const v = headers?.[TOKEN_HEADER];
  const t = Array.isArray(v) ? v[0] : v;
  return t?.trim() || undefined;
};

/** Token of a stdio process: GITHUB_TOKEN, which the gateway sets in the child's environment. */
export const tokenFromEnv =
  (env: NodeJS.ProcessEnv = process.env): TokenSource =>
  () =>
    env.GITHUB_TOKEN?.trim() || undefined;

export function createGitHubServer(o: GitHubToolsOptions): McpServer {
  const server = new McpServer({ name: "mcp-edge-github", version: "0.1.0" }, { capabilities: { tools: {} } });
  registerGitHubTools(server, o);
  return server;
}

/** Each tool's gateway action (read / write / execute), as its annotations give it. */
export function githubToolActions(): Record<string, Action> {
  return registerGitHubTools(new McpServer({ name: "actions", version: "0" }), { token: () => undefined });
}
