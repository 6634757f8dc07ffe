// The adapter as an MCP server on the official SDK: tools built once at start, served over stdio or
// stateless Streamable HTTP (a fresh SDK server and transport per request, so replicas need no shared state).

import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { Agent, type Dispatcher } from "undici";
import { type BuiltTools, buildTools, type ToolDefinition } from "./build-tools.ts";
import { type CallContext, callTool, Validators } from "./call-tool.ts";
import { AdapterError } from "./errors.ts";
import { type LoadedDocument, loadDocument } from "./load-document.ts";
import { type AdapterOptions, type AdapterOptionsInput, parseOptions } from "./options.ts";
import type { JsonObject } from "./schema-convert.ts";

export interface OpenApiServerConfig {
  /** A file path, an http(s) URL, or the parsed document. */
  readonly document: string | JsonObject;
  readonly options?: AdapterOptionsInput;
  /** The MCP server's name in InitializeResult (default: the document's info.title). */
  readonly name?: string;
  /** Where HTTP requests go (default: an undici Agent owned by the adapter). */
  readonly dispatcher?: Dispatcher;
  /** Environment for `fromEnv` credential sources (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Loads the document and builds the tools: the programmatic entry other adapters reuse. */
export async function buildToolsFromDocument(
  document: string | JsonObject,
  options?: AdapterOptionsInput,
): Promise<BuiltTools & { loaded: LoadedDocument; options: AdapterOptions; baseUrl: string | undefined }> {
  const o = parseOptions(options);
  const loaded = await loadDocument(document, { validate: o.validateDocument });
  const built = buildTools(loaded, o);
  return { ...built, loaded, options: o, baseUrl: baseUrlOf(loaded, o) };
}

/** The API's base URL: the `baseUrl` option, else the first `servers` entry with its variables' defaults. */
export function baseUrlOf(loaded: LoadedDocument, o: AdapterOptions): string | undefined {
  if (o.baseUrl) return o.baseUrl;
  const servers = loaded.doc.servers;
  const first = Array.isArray(servers) ? (servers[0] as JsonObject | undefined) : undefined;
  if (!first || typeof first.url !== "string") return undefined;
  const vars = (first.variables ?? {}) as Record<string, JsonObject>;
  const url = first.url.replace(/\{([^}]+)\}/g, (_, n: string) => String(vars[n]?.default ?? ""));
  try {
    return new URL(url, loaded.sourceUrl?.protocol.startsWith("http") ? loaded.sourceUrl : undefined).href;
  } catch {
    return undefined;
  }
}

function toMcpTool(t: ToolDefinition): Tool {
  const tool: Tool = { name: t.name, inputSchema: t.inputSchema as Tool["inputSchema"], annotations: t.annotations };
  if (t.title) tool.title = t.title;
  if (t.description) tool.description = t.description;
  if (t.outputSchema) tool.outputSchema = t.outputSchema as Tool["outputSchema"];
  return tool;
}

export class OpenApiServer {
  readonly tools: readonly ToolDefinition[];
  readonly skipped: BuiltTools["skipped"];
  readonly security: BuiltTools["security"];
  readonly baseUrl: string;
  readonly options: AdapterOptions;
  readonly #name: string;
  readonly #version: string;
  readonly #listed: Tool[];
  readonly #byName: Map<string, ToolDefinition>;
  readonly #validators = new Validators();
  readonly #sdkValidator = new AjvJsonSchemaValidator();
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: boolean;
  readonly #env: Readonly<Record<string, string | undefined>>;
  #http: HttpServer | undefined;
  #allowedHosts: string[] | undefined;

  constructor(built: Awaited<ReturnType<typeof buildToolsFromDocument>>, cfg: OpenApiServerConfig) {
    if (!built.baseUrl) throw new AdapterError("OPENAPI_BAD_OPTIONS", "baseUrl: the document has no servers entry; set baseUrl");
    this.tools = built.tools;
    this.skipped = built.skipped;
    this.security = built.security;
    this.baseUrl = built.baseUrl;
    this.options = built.options;
    const info = (built.loaded.doc.info ?? {}) as JsonObject;
    this.#name = cfg.name ?? (typeof info.title === "string" ? info.title : "openapi");
    this.#version = typeof info.version === "string" ? info.version : "0.0.0";
    this.#listed = built.tools.map(toMcpTool);
    this.#byName = new Map(built.tools.map((t) => [t.name, t]));
    this.#ownDispatcher = !cfg.dispatcher;
    this.#dispatcher = cfg.dispatcher ?? new Agent({ keepAliveTimeout: 10_000, connections: 64 });
    this.#env = cfg.env ?? process.env;
    const unsatisfied = this.security.filter((s) => s.operations > 0 && !s.satisfiedBy);
    if (built.options.strictSecurity && unsatisfied.length) {
      throw new AdapterError(
        "OPENAPI_SECURITY_UNSATISFIED",
        unsatisfied.map((s) => `${s.scheme} (${s.type}, ${s.operations} operations)`).join(", "),
      );
    }
  }

  /** Schemes operations need that no configured or default source satisfies (reported at start). */
  get unsatisfied(): string[] {
    return this.security.filter((s) => s.operations > 0 && !s.satisfiedBy).map((s) => s.scheme);
  }

  /** The tools as MCP lists them. */
  get listedTools(): readonly Tool[] {
    return this.#listed;
  }

  /** A tools/call outside any transport (the REST bridge's tests, in-process embedding). */
  call(name: string, args: Record<string, unknown>, incoming?: Record<string, string | string[] | undefined>, signal?: AbortSignal) {
    const tool = this.#byName.get(name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    const ctx: CallContext = {
      dispatcher: this.#dispatcher,
      baseUrl: this.baseUrl,
      options: this.options,
      incoming,
      env: this.#env,
      signal,
    };
    return callTool(tool, args, ctx, this.#validators);
  }

  /** A new SDK server bound to these tools (one per stdio connection, or per stateless HTTP request). */
  createMcpServer(): Server {
    // One validator for every SDK server: the SDK builds a new Ajv per Server otherwise (a fifth of a stateless request's CPU).
    const server = new Server(
      { name: this.#name, version: this.#version },
      { capabilities: { tools: { listChanged: false } }, jsonSchemaValidator: this.#sdkValidator },
    );
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: this.#listed }));
    server.setRequestHandler(CallToolRequestSchema, (req, extra) =>
      this.call(req.params.name, (req.params.arguments ?? {}) as Record<string, unknown>, extra.requestInfo?.headers, extra.signal),
    );
    return server;
  }

  /** Serves MCP over stdio until the input closes. */
  async serveStdio(): Promise<void> {
    await this.createMcpServer().connect(new StdioServerTransport());
  }

  /** Node request handler for Streamable HTTP at `path` (stateless; JSON answers), plus /healthz. */
  handleHttp = (req: IncomingMessage, res: ServerResponse, path = "/mcp"): void => {
    const url = req.url ?? "/";
    const p = url.split("?")[0];
    if (p === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (p !== path) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
      return;
    }
    if (req.method !== "POST") {
      // Stateless: no standalone GET stream and no session to DELETE (Streamable HTTP allows 405 for both).
      res.writeHead(405, { allow: "POST", "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "Method not allowed" } }));
      return;
    }
    const server = this.createMcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      // DNS rebinding (MCP transports, "Security Warning"): a loopback listener answers only its own Host names.
      ...(this.#allowedHosts ? { enableDnsRebindingProtection: true, allowedHosts: this.#allowedHosts } : {}),
    });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    server
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32603, message: "Internal error" } }));
      });
  };

  /**
   * Listens for Streamable HTTP on host:port (port 0 picks one); resolves to the MCP endpoint URL. Host headers
   * are checked against `allowedHosts` ("host:port" values), by default the loopback names when bound to loopback.
   */
  async listen(port = 0, host = "127.0.0.1", path = "/mcp", allowedHosts?: string[]): Promise<string> {
    const http = createHttpServer((req, res) => this.handleHttp(req, res, path));
    this.#http = http;
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(port, host, () => resolve());
    });
    const a = http.address() as AddressInfo;
    if (allowedHosts) this.#allowedHosts = allowedHosts;
    else if (/^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/.test(host)) {
      this.#allowedHosts = [`127.0.0.1:${a.port}`, `localhost:${a.port}`, `[::1]:${a.port}`, `${host}:${a.port}`];
    }
    return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}${path}`;
  }

  async close(): Promise<void> {
    const http = this.#http;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
    if (this.#ownDispatcher) await this.#dispatcher.close();
  }
}

/** Loads, builds and returns a ready server (not yet listening). */
export async function createOpenApiServer(cfg: OpenApiServerConfig): Promise<OpenApiServer> {
  return new OpenApiServer(await buildToolsFromDocument(cfg.document, cfg.options), cfg);
}
