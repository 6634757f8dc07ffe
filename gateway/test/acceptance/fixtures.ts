// Fixtures for the acceptance tests: the reference backends (catalyst-center, servicenow, github,
// rest-bridge) as small 2.x SDK servers that serve every protocol era, the IdP accounts per group, and
// helpers to start a gateway the way a user does (YAML text → parseConfig → startConfiguredGateway).

import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { startAdminServer } from "../../src/listener/admin-server.ts";
import { createLogger } from "../../src/log/logger.ts";
import type { Idp } from "../fixtures/idp.ts";
import { readAll, serveFetch } from "../fixtures/modern-server.ts";

// ── backends ─────────────────────────────────────────────────────────────────────────────────────

export type Action = "read" | "write" | "execute";

export interface ToolDef {
  readonly name: string;
  /** The action the gateway derives from the annotations (readOnlyHint → read, destructiveHint → write, else execute). */
  readonly action: Action;
}

const hints = (a: Action) =>
  a === "read"
    ? { readOnlyHint: true }
    : a === "write"
      ? { readOnlyHint: false, destructiveHint: true }
      : { readOnlyHint: false, destructiveHint: false };

/** The tools of each reference route. Site-scoped ones (policies/rego/data.json site_scoped) take a `site`. */
export const ROUTE_TOOLS: Record<string, readonly ToolDef[]> = {
  "catalyst-center": [
    { name: "get_devices", action: "read" },
    { name: "get_sites", action: "read" },
    { name: "update_site", action: "write" },
    { name: "deploy_template", action: "execute" },
  ],
  servicenow: [
    { name: "get_incident", action: "read" },
    { name: "create_incident", action: "write" },
    { name: "run_workflow", action: "execute" },
  ],
  github: [
    { name: "list_repos", action: "read" },
    { name: "delete_branch", action: "write" },
    { name: "create_pr", action: "execute" },
  ],
  "rest-bridge": [
    { name: "http_get", action: "read" },
    { name: "http_delete", action: "write" },
    { name: "call_operation", action: "execute" },
  ],
};

export const ROUTES = Object.keys(ROUTE_TOOLS);

/** Extra tools some tests need: progress, a tool error, a trace-reading tool. All `read` so any grant may call them. */
export const EXTRA_TOOLS: readonly ToolDef[] = [
  { name: "count", action: "read" },
  { name: "fail", action: "read" },
];

export interface SeenRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** Parsed JSON body (POST), else undefined. */
  readonly body: Record<string, unknown> | undefined;
}

export interface ToolCallSeen {
  readonly tool: string;
  readonly arguments: Record<string, unknown>;
  /** params._meta as the backend received it. */
  readonly meta: Record<string, unknown> | undefined;
}

export interface Backend {
  readonly route: string;
  readonly url: string;
  readonly seen: SeenRequest[];
  readonly calls: ToolCallSeen[];
  close(): Promise<void>;
}

export interface BackendOptions {
  extraTools?: boolean;
  /** Called for every tools/call with the request's _meta (e.g. a backend that continues the trace). */
  onCall?: (tool: string, meta: Record<string, unknown> | undefined) => void;
}

const argsSchema = z.object({
  site: z.string().optional(),
  template: z.string().optional(),
  text: z.string().optional(),
  n: z.number().int().min(1).max(20).optional(),
});

function createRouteServer(route: string, calls: ToolCallSeen[], opts: BackendOptions): McpServer {
  const server = new McpServer({ name: route, version: "1.0.0" }, { capabilities: { tools: {}, prompts: {}, resources: {} } });
  const tools = [...(ROUTE_TOOLS[route] ?? []), ...(opts.extraTools ? EXTRA_TOOLS : [])];
  for (const t of tools) {
    server.registerTool(
      t.name,
      { description: `${route} ${t.name} (${t.action})`, inputSchema: argsSchema, annotations: hints(t.action) },
      async (args, ctx) => {
        const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
        calls.push({ tool: t.name, arguments: args as Record<string, unknown>, meta });
        opts.onCall?.(t.name, meta);
        if (t.name === "fail") return { isError: true, content: [{ type: "text", text: "the backend failed" }] };
        if (t.name === "count") {
          const n = args.n ?? 3;
          const token = ctx.mcpReq._meta?.progressToken;
          for (let i = 1; i <= n; i++) {
            if (token !== undefined)
              await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress: i, total: n } });
          }
          return { content: [{ type: "text", text: `counted to ${n}` }] };
        }
        return { content: [{ type: "text", text: `${route}:${t.name} ok` }] };
      },
    );
  }
  server.registerPrompt(`${route}_summary`, { description: "Summarize", argsSchema: z.object({ topic: z.string() }) }, ({ topic }) => ({
    messages: [{ role: "user", content: { type: "text", text: `Summarize ${topic} on ${route}` } }],
  }));
  server.registerResource("readme", `${route}://readme`, { mimeType: "text/plain", description: "About this backend" }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: "text/plain", text: `${route} readme` }],
  }));
  return server;
}

/**
 * A backend for `route` on 127.0.0.1: the 2.x SDK's HTTP entry, which serves 2026-07-28 per request
 * and 2024-11-05 … 2025-11-25 statelessly, so one backend serves every era the gateway relays.
 */
export async function startBackend(route: string, opts: BackendOptions = {}): Promise<Backend> {
  const seen: SeenRequest[] = [];
  const calls: ToolCallSeen[] = [];
  const handler = createMcpHandler(() => createRouteServer(route, calls, opts), { keepAliveMs: 0 });
  const http = createServer((req, res) => {
    readAll(req)
      .then((body) => {
        let parsed: Record<string, unknown> | undefined;
        try {
          parsed = body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : undefined;
        } catch {
          parsed = undefined;
        }
        seen.push({ method: req.method ?? "", headers: req.headers, body: parsed });
        return serveFetch(handler, req, res, body);
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    route,
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    calls,
    close: async () => {
      await handler.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

// ── identities ───────────────────────────────────────────────────────────────────────────────────

export const GROUPS = ["admin", "network-engineers", "service-desk", "developers", "none"] as const;
export type Group = (typeof GROUPS)[number];

/** IdP account id for a group, with or without MFA. Network engineers also hold site:paris. */
export const account = (g: Group, mfa: boolean) => `${g}-${mfa ? "mfa" : "pwd"}`;

export function idpAccounts(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const g of GROUPS) {
    for (const mfa of [true, false]) {
      const groups = g === "none" ? [] : g === "network-engineers" ? [g, "site:paris"] : [g];
      out[account(g, mfa)] = { groups, amr: mfa ? ["pwd", "mfa"] : ["pwd"], acr: mfa ? "mfa" : "pwd" };
    }
  }
  return out;
}

// ── gateway from YAML ────────────────────────────────────────────────────────────────────────────

export interface StartedGateway extends RunningGateway {
  /** Every log line the gateway wrote (ECS JSON). */
  readonly logs: string[];
  /** The admin listener (GET /metrics). */
  readonly adminUrl: string;
}

/** A Writable that collects lines (for createLogger({ stream })). */
export function lineCollector(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(l);
      cb();
    },
  });
}

/** Parse YAML text exactly as the CLI does (references resolved against `env`), then start the gateway. */
export async function startFromYaml(
  yaml: string,
  o: { baseDir: string; env?: NodeJS.ProcessEnv; level?: "debug" | "info" } = { baseDir: process.cwd() },
): Promise<StartedGateway> {
  const config = parseConfig(parseYaml(yaml), o.baseDir, { env: o.env ?? {} });
  const logs: string[] = [];
  const logger = createLogger({ level: o.level ?? "debug", stream: lineCollector(logs) });
  const gw = await startConfiguredGateway(config, { baseDir: o.baseDir, logger, env: o.env ?? {} });
  // /metrics is on the admin listener (the runtime's; here the same module on its own).
  const admin = await startAdminServer(config.admin, { ready: () => true, metrics: () => gw.metricsHandler, status: () => ({}) });
  // Idempotent close: a test may close early to flush audit/telemetry; afterAll closes again.
  let closing: Promise<void> | undefined;
  return { ...gw, logs, adminUrl: admin.url, close: () => (closing ??= Promise.all([gw.close(), admin.close()]).then(() => {})) };
}

/** An IdP issuer block for YAML, with the loopback allowance tests need. */
export function issuerYaml(idp: Idp, extra = ""): string {
  return `
  allowInsecureLoopback: true
  acceptBaseUrlAudience: true
  issuers:
    - issuer: ${idp.issuer}
      clockSkewSeconds: 0${extra}`;
}

/** A real access token from the IdP (authorization code + PKCE, automatic login) for `resource`. */
export async function userToken(idp: Idp, acct: string, resource: string): Promise<string> {
  const t = await idp.authorizationCode({ account: acct, resource, scope: "openid mcp:tools" });
  return t.access_token;
}

// ── raw JSON-RPC over HTTP ───────────────────────────────────────────────────────────────────────

export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
}

/** The JSON-RPC messages of a JSON or SSE response body, and the raw text. */
export async function messages(r: Response): Promise<{ text: string; msgs: Array<Record<string, unknown>> }> {
  const text = await r.text();
  if ((r.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    const msgs = text
      .split(/\n\n/)
      .map((b) =>
        b
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trimStart())
          .join("\n"),
      )
      .filter((d) => d.length > 0)
      .map((d) => JSON.parse(d) as Record<string, unknown>);
    return { text, msgs };
  }
  if (text.length === 0) return { text, msgs: [] };
  try {
    const v = JSON.parse(text) as unknown;
    return { text, msgs: (Array.isArray(v) ? v : [v]) as Array<Record<string, unknown>> };
  } catch {
    return { text, msgs: [] };
  }
}

/** A raw 2025-06-18 session: initialize + initialized. Returns the gateway's session id. */
export async function openSession(url: string, headers: Record<string, string>): Promise<string> {
  const r = await post(
    url,
    {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "acceptance", version: "1" } },
    },
    headers,
  );
  const { text } = await messages(r);
  const sid = r.headers.get("mcp-session-id");
  if (r.status !== 200 || !sid) throw new Error(`initialize failed: ${r.status} ${text.slice(0, 300)}`);
  await (
    await post(
      url,
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { ...headers, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
    )
  ).text();
  return sid;
}
