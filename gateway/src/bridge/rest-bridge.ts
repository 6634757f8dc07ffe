// The REST bridge: /api/v1 endpoints for clients that do not speak MCP. Every call is an MCP request to this
// gateway's own /mcp/{route}, so authn, authz per tool, credentials, audit and spans are the MCP chain's own.

import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
  GetTaskResultSchema,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import type { JsonSchemaType, JsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import { LRUCache } from "lru-cache";
import { GatewayError } from "../errors.ts";
import type { Guards } from "../listener/guards.ts";
import { type BridgeSession, BridgeSessions } from "./bridge-sessions.ts";
import type { RestBridgeConfig } from "./config.ts";
import { bridgeOpenApi, type RouteListing } from "./openapi-document.ts";
import { type Problem, problemFromError, problemOf, sendProblem } from "./problem.ts";

export interface RestBridgeOptions {
  readonly config: RestBridgeConfig;
  /** Route names and their request timeouts (ms). */
  readonly routes: ReadonlyMap<string, { readonly timeoutMs: number }>;
  readonly guards: Guards;
  readonly maxBodyBytes: number;
  /** This gateway's base URL once it listens (the bridge's MCP client calls it). */
  readonly gatewayUrl: () => string;
  /** Base URL written into the OpenAPI document (publicBaseUrl, else the gateway's URL). */
  readonly publicUrl: () => string;
  readonly version: string;
}

export const BRIDGE_PREFIX = "/api/v1/";
const TASK_TTL_MS = 10 * 60_000;

function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function readJson(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const ctype = req.headers["content-type"];
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new GatewayError("BODY_TOO_LARGE");
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  if (!ctype?.startsWith("application/json")) throw new GatewayError("UNSUPPORTED_MEDIA_TYPE");
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new GatewayError("BRIDGE_BAD_REQUEST", "the body is not JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new GatewayError("BRIDGE_BAD_REQUEST", "the body must be a JSON object");
  const args = (v as Record<string, unknown>).arguments;
  if (args !== undefined && (args === null || typeof args !== "object" || Array.isArray(args))) {
    throw new GatewayError("BRIDGE_BAD_REQUEST", '"arguments" must be an object');
  }
  return v as Record<string, unknown>;
}

/** The caller's W3C trace context, for `params._meta` (MCP semantic conventions, context propagation). */
function traceMeta(req: IncomingMessage): Record<string, string> | undefined {
  const meta: Record<string, string> = {};
  let any = false;
  for (const h of ["traceparent", "tracestate", "baggage"] as const) {
    const v = req.headers[h];
    if (typeof v === "string" && v.length <= 1024) {
      meta[h] = v;
      any = true;
    }
  }
  return any ? meta : undefined;
}

/** The JSON answer of a tool result: its structuredContent when it has one, else its content list. */
function answerOf(result: CallToolResult): unknown {
  return result.structuredContent ?? result.content;
}

export class RestBridge {
  readonly #o: RestBridgeOptions;
  readonly #sessions: BridgeSessions;
  readonly #ajv = new AjvJsonSchemaValidator();
  /** Input validators by route, tool and schema text: compiled once, bounded. */
  readonly #validators = new LRUCache<string, JsonSchemaValidator<unknown>>({ max: 2000 });

  constructor(o: RestBridgeOptions) {
    this.#o = o;
    this.#sessions = new BridgeSessions({
      gatewayUrl: o.gatewayUrl,
      idleMs: o.config.idleSeconds * 1000,
      max: o.config.maxSessions,
      version: o.version,
    });
  }

  /** Open MCP sessions (tests, metrics). */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Request handler for everything under /api/v1/; never throws. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0]!;
    this.#dispatch(req, res, path).catch((e: unknown) => sendProblem(res, problemFromError(e, undefined), path));
  };

  async close(): Promise<void> {
    await this.#sessions.close();
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    // Extra routes run before the listener's Origin guard: the bridge applies it itself (it carries credentials).
    if (!this.#o.guards.originAllowed(req.headers.origin)) return sendProblem(res, problemOf("ORIGIN_FORBIDDEN"), path);
    if (path === "/api/v1/openapi.json") {
      if (req.method !== "GET") return this.#notAllowed(res, path, "GET");
      return this.#openapi(req, res, path);
    }
    const m = /^\/api\/v1\/mcp\/([^/]+)\/(tools|prompts|resources|tasks)(?:\/([^/]+))?\/?$/.exec(path);
    if (!m) return sendProblem(res, problemOf("NOT_FOUND"), path);
    let route: string;
    let name: string | undefined;
    try {
      route = decodeURIComponent(m[1]!);
      name = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    } catch {
      return sendProblem(res, problemOf("BRIDGE_BAD_REQUEST", "bad percent-encoding in the path"), path);
    }
    const r = this.#o.routes.get(route);
    if (!r) return sendProblem(res, problemOf("UNKNOWN_SERVER", `"${route.slice(0, 64)}"`), path);
    const kind = m[2]!;
    const method = req.method ?? "GET";
    // Read once: a request retried on a fresh session (SESSION_NOT_FOUND) must not find the stream consumed.
    let bodyRead: Promise<Record<string, unknown>> | undefined;
    const body = () => {
      bodyRead ??= readJson(req, this.#o.maxBodyBytes);
      return bodyRead;
    };
    const run = async (s: BridgeSession): Promise<void> => {
      if (kind === "tools" && name === undefined) {
        if (method !== "GET") return this.#notAllowed(res, path, "GET");
        return sendJson(res, 200, { tools: await this.#tools(s, true) });
      }
      if (kind === "tools") {
        if (method !== "POST") return this.#notAllowed(res, path, "POST");
        return this.#call(req, res, path, s, name!, r.timeoutMs, await body());
      }
      if (kind === "prompts" && name === undefined) {
        if (method !== "GET") return this.#notAllowed(res, path, "GET");
        return sendJson(res, 200, { prompts: (await s.client.listPrompts()).prompts });
      }
      if (kind === "prompts") {
        if (method !== "POST") return this.#notAllowed(res, path, "POST");
        const args = ((await body()).arguments ?? {}) as Record<string, string>;
        const meta = traceMeta(req);
        return sendJson(
          res,
          200,
          await s.client.getPrompt({ name: name!, arguments: args, ...(meta ? { _meta: meta } : {}) }, { timeout: r.timeoutMs }),
        );
      }
      if (kind === "resources" && name === undefined) {
        if (method !== "GET") return this.#notAllowed(res, path, "GET");
        return sendJson(res, 200, { resources: (await s.client.listResources()).resources });
      }
      if (kind === "resources" && name === "read") {
        if (method !== "GET") return this.#notAllowed(res, path, "GET");
        const uri = new URL(req.url ?? "/", "http://x").searchParams.get("uri");
        if (!uri) return sendProblem(res, problemOf("BRIDGE_BAD_REQUEST", "the uri query parameter is required"), path);
        const meta = traceMeta(req);
        return sendJson(res, 200, await s.client.readResource({ uri, ...(meta ? { _meta: meta } : {}) }, { timeout: r.timeoutMs }));
      }
      if (kind === "tasks" && name !== undefined) {
        if (method !== "GET") return this.#notAllowed(res, path, "GET");
        return this.#task(res, path, s, route, name, r.timeoutMs);
      }
      return sendProblem(res, problemOf("NOT_FOUND"), path);
    };
    return this.#withSession(req, res, path, route, run);
  }

  /** Runs `fn` on the caller's session; a session the gateway no longer knows is replaced once. */
  async #withSession(req: IncomingMessage, res: ServerResponse, path: string, route: string, fn: (s: BridgeSession) => Promise<void>) {
    for (let attempt = 0; attempt < 2; attempt++) {
      let s: BridgeSession | undefined;
      try {
        s = await this.#sessions.get(route, req.headers);
        s.lastFailure = undefined;
        return await fn(s);
      } catch (e) {
        const p = problemFromError(e, s?.lastFailure);
        if (p.code === "SESSION_NOT_FOUND" && attempt === 0 && !res.headersSent) {
          this.#sessions.drop(route, req.headers.authorization);
          continue;
        }
        // A refused credential ends the session it opened: the next request starts afresh.
        if (p.status === 401) this.#sessions.drop(route, req.headers.authorization);
        return sendProblem(res, p, path);
      }
    }
  }

  #notAllowed(res: ServerResponse, path: string, allow: string): void {
    sendProblem(res, problemOf("METHOD_NOT_ALLOWED", undefined, undefined, { allow }), path);
  }

  /** The caller's tools (every page), reused for listCacheSeconds; `fresh` skips the cache. */
  async #tools(s: BridgeSession, fresh = false): Promise<Tool[]> {
    const ttl = this.#o.config.listCacheSeconds * 1000;
    if (!fresh && s.tools && Date.now() - s.tools.at < ttl) return s.tools.list;
    const list: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const r = await s.client.listTools(cursor ? { cursor } : undefined);
      list.push(...r.tools);
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    s.tools = { at: Date.now(), list };
    return list;
  }

  #validator(route: string, tool: Tool): JsonSchemaValidator<unknown> {
    const text = JSON.stringify(tool.inputSchema);
    const key = `${route}\n${tool.name}\n${text}`;
    let v = this.#validators.get(key);
    if (!v) {
      v = this.#ajv.getValidator(tool.inputSchema as JsonSchemaType);
      this.#validators.set(key, v);
    }
    return v;
  }

  async #call(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    s: BridgeSession,
    name: string,
    timeoutMs: number,
    body: Record<string, unknown>,
  ): Promise<void> {
    const args = (body.arguments ?? {}) as Record<string, unknown>;
    const tool = (await this.#tools(s)).find((t) => t.name === name);
    if (tool) {
      // Checked here, before the backend sees anything; the backend checks again.
      const v = this.#validator(s.route, tool)(args);
      if (!v.valid) return sendProblem(res, problemOf("BRIDGE_INVALID_ARGUMENTS", v.errorMessage), path);
    }
    const opts = { timeout: timeoutMs + 5_000, resetTimeoutOnProgress: true, onprogress: () => {} };
    const meta = traceMeta(req);
    const asyncPreferred = /\brespond-async\b/i.test(String(req.headers.prefer ?? ""));
    const tasks = s.capabilities?.tasks as { requests?: { tools?: { call?: object } } } | undefined;
    if (asyncPreferred && tasks?.requests?.tools?.call && tool?.execution?.taskSupport !== "forbidden" && tool) {
      const created = await s.client.request(
        { method: "tools/call", params: { name, arguments: args, task: { ttl: TASK_TTL_MS }, ...(meta ? { _meta: meta } : {}) } },
        CreateTaskResultSchema,
        { timeout: timeoutMs },
      );
      const statusUrl = `/api/v1/mcp/${encodeURIComponent(s.route)}/tasks/${encodeURIComponent(created.task.taskId)}`;
      return sendJson(
        res,
        202,
        { taskId: created.task.taskId, status: created.task.status, statusUrl, pollInterval: created.task.pollInterval },
        { location: statusUrl, "preference-applied": "respond-async" },
      );
    }
    let result: CallToolResult;
    try {
      result = (await s.client.callTool(
        { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
        CallToolResultSchema,
        opts,
      )) as CallToolResult;
    } catch (e) {
      // Not in the caller's list and refused by the backend: unknown (authz let it through, so nothing is revealed).
      if (!tool && !problemFromError(e, s.lastFailure).code.startsWith("AUTHZ") && !(await this.#listed(s, name))) {
        return sendProblem(res, problemOf("BRIDGE_UNKNOWN_TARGET", `tool "${name.slice(0, 64)}"`), path);
      }
      throw e;
    }
    // Not in the caller's list, yet authorized: either the list was stale, or the backend has no such tool.
    if (!tool && !(await this.#listed(s, name))) {
      return sendProblem(res, problemOf("BRIDGE_UNKNOWN_TARGET", `tool "${name.slice(0, 64)}"`), path);
    }
    return this.#result(res, path, result);
  }

  async #listed(s: BridgeSession, name: string): Promise<boolean> {
    return (await this.#tools(s, true)).some((t) => t.name === name);
  }

  #result(res: ServerResponse, path: string, result: CallToolResult): void {
    if (result.isError) {
      const first = result.content.find((c) => c.type === "text") as { text: string } | undefined;
      const p: Problem = problemOf("BRIDGE_TOOL_ERROR", first?.text.slice(0, 500), { result });
      sendProblem(res, p, path);
      return;
    }
    sendJson(res, 200, answerOf(result));
  }

  /** Status URL of a task: 202 while it runs, then the tool's answer (the task belongs to its creator). */
  async #task(res: ServerResponse, path: string, s: BridgeSession, route: string, taskId: string, timeoutMs: number): Promise<void> {
    const t = await s.client.request({ method: "tasks/get", params: { taskId } }, GetTaskResultSchema, { timeout: timeoutMs });
    const statusUrl = `/api/v1/mcp/${encodeURIComponent(route)}/tasks/${encodeURIComponent(taskId)}`;
    if (t.status === "working" || t.status === "input_required") {
      const headers: Record<string, string> = { location: statusUrl };
      if (t.pollInterval) headers["retry-after"] = String(Math.max(1, Math.ceil(t.pollInterval / 1000)));
      return sendJson(res, 202, { taskId, status: t.status, statusUrl, pollInterval: t.pollInterval }, headers);
    }
    const result = (await s.client.request({ method: "tasks/result", params: { taskId } }, CallToolResultSchema, {
      timeout: timeoutMs,
    })) as CallToolResult;
    return this.#result(res, path, result);
  }

  /** The OpenAPI document of what this caller may see, route by route (routes that refuse listing are left out). */
  async #openapi(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const listings: RouteListing[] = [];
    let refusal: Problem | undefined;
    for (const route of this.#o.routes.keys()) {
      let s: BridgeSession | undefined;
      try {
        s = await this.#sessions.get(route, req.headers);
        const tools = await this.#tools(s);
        listings.push({ route, tools, prompts: s.capabilities?.prompts !== undefined, resources: s.capabilities?.resources !== undefined });
      } catch (e) {
        const p = problemFromError(e, s?.lastFailure);
        // The credential itself is refused: that is the answer (the same challenge as MCP), not an empty document.
        if (p.status === 401) {
          this.#sessions.drop(route, req.headers.authorization);
          refusal = p;
          break;
        }
      }
    }
    if (refusal) return sendProblem(res, refusal, path);
    sendJson(res, 200, bridgeOpenApi(this.#o.publicUrl(), this.#o.version, listings));
  }
}
