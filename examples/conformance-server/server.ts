// The fixture server the official MCP conformance suite (@modelcontextprotocol/conformance, server
// scenarios) expects: tools, prompts, resources and completion named as the scenarios call them.
// SDK 1.x McpServer on Streamable HTTP; the gateway's conformance test runs the suite direct and through a route.
// Run: node examples/conformance-server/server.ts [--port N]

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  type CallToolResult,
  CreateMessageResultSchema,
  type ElicitRequest,
  ElicitResultSchema,
  type ServerNotification,
  type ServerRequest,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

/** 1×1 red PNG. */
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/** A valid, minimal WAV: 8 kHz mono 8-bit PCM, 8 samples of silence (RIFF header + data chunk). */
function tinyWav(): string {
  const samples = 8;
  const b = Buffer.alloc(44 + samples, 128);
  b.write("RIFF", 0, "ascii");
  b.writeUInt32LE(36 + samples, 4);
  b.write("WAVEfmt ", 8, "ascii");
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(8000, 24); // sample rate
  b.writeUInt32LE(8000, 28); // byte rate
  b.writeUInt16LE(1, 32); // block align
  b.writeUInt16LE(8, 34); // bits per sample
  b.write("data", 36, "ascii");
  b.writeUInt32LE(samples, 40);
  return b.toString("base64");
}

type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema";

export function createConformanceServer(): McpServer {
  const server = new McpServer(
    { name: "conformance-fixture", version: "1.0.0" },
    // resources.subscribe is declared here: McpServer has no subscribe handler of its own (set below).
    { capabilities: { logging: {}, resources: { subscribe: true } } },
  );

  const noArgs = (name: string, description: string, result: () => CallToolResult) =>
    server.registerTool(name, { description }, async () => result());

  noArgs("test_simple_text", "Returns simple text", () => ({
    content: [{ type: "text", text: "This is a simple text response for testing." }],
  }));
  noArgs("test_image_content", "Returns an image", () => ({ content: [{ type: "image", data: PNG, mimeType: "image/png" }] }));
  noArgs("test_audio_content", "Returns audio", () => ({ content: [{ type: "audio", data: tinyWav(), mimeType: "audio/wav" }] }));
  noArgs("test_embedded_resource", "Returns an embedded resource", () => ({
    content: [
      {
        type: "resource",
        resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." },
      },
    ],
  }));
  noArgs("test_multiple_content_types", "Returns text, image and resource", () => ({
    content: [
      { type: "text", text: "Multiple content types test:" },
      { type: "image", data: PNG, mimeType: "image/png" },
      {
        type: "resource",
        resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: '{"test":"data","value":123}' },
      },
    ],
  }));
  noArgs("test_error_handling", "Always returns an isError result", () => ({
    isError: true,
    content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
  }));

  server.registerTool("test_tool_with_logging", { description: "Sends three log notifications" }, async (extra) => {
    // extra.sendNotification routes each message onto this request's SSE stream (relatedRequestId).
    for (const [i, data] of ["Tool execution started", "Tool processing data", "Tool execution completed"].entries()) {
      if (i > 0) await sleep(50);
      await extra.sendNotification({ method: "notifications/message", params: { level: "info", data } });
    }
    return { content: [{ type: "text", text: "Logging test completed" }] };
  });

  server.registerTool("test_tool_with_progress", { description: "Reports progress 0, 50, 100" }, async (extra) => {
    const progressToken = extra._meta?.progressToken;
    for (const [i, progress] of [0, 50, 100].entries()) {
      if (i > 0) await sleep(50);
      if (progressToken !== undefined)
        await extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress, total: 100 } });
    }
    return { content: [{ type: "text", text: "Progress test completed" }] };
  });

  server.registerTool(
    "test_sampling",
    { description: "Asks the client's model (sampling/createMessage)", inputSchema: { prompt: z.string() } },
    async ({ prompt }, extra) => {
      const r = await extra.sendRequest(
        {
          method: "sampling/createMessage",
          params: { messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const text = r.content.type === "text" ? r.content.text : JSON.stringify(r.content);
      return { content: [{ type: "text", text: `LLM response: ${text}` }] };
    },
  );

  const elicit = async (extra: ToolExtra, params: Record<string, unknown>) =>
    // The schema literals below are the suite's (SEP-1034/1330), checked by its client; the SDK type is narrower.
    extra.sendRequest({ method: "elicitation/create", params: { mode: "form", ...params } as ElicitRequest["params"] }, ElicitResultSchema);

  server.registerTool(
    "test_elicitation",
    { description: "Asks the user (elicitation/create)", inputSchema: { message: z.string() } },
    async ({ message }, extra) => {
      const r = await elicit(extra, {
        message,
        requestedSchema: {
          type: "object",
          properties: {
            username: { type: "string", description: "User's response" },
            email: { type: "string", description: "User's email address" },
          },
          required: ["username", "email"],
        },
      });
      return { content: [{ type: "text", text: `User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}` }] };
    },
  );

  server.registerTool(
    "test_elicitation_sep1034_defaults",
    { description: "Elicitation with a default for every primitive type (SEP-1034)" },
    async (extra) => {
      const r = await elicit(extra, {
        message: "Please review and update the form fields with defaults",
        requestedSchema: {
          type: "object",
          properties: {
            name: { type: "string", description: "User name", default: "John Doe" },
            age: { type: "integer", description: "User age", default: 30 },
            score: { type: "number", description: "User score", default: 95.5 },
            status: { type: "string", description: "User status", enum: ["active", "inactive", "pending"], default: "active" },
            verified: { type: "boolean", description: "Verification status", default: true },
          },
          required: [],
        },
      });
      return { content: [{ type: "text", text: `Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}` }] };
    },
  );

  server.registerTool(
    "test_elicitation_sep1330_enums",
    { description: "Elicitation with the five enum variants (SEP-1330)" },
    async (extra) => {
      const r = await elicit(extra, {
        message: "Please select options from the enum fields",
        requestedSchema: {
          type: "object",
          properties: {
            untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
            titledSingle: {
              type: "string",
              oneOf: [
                { const: "value1", title: "First Option" },
                { const: "value2", title: "Second Option" },
                { const: "value3", title: "Third Option" },
              ],
            },
            legacyEnum: { type: "string", enum: ["opt1", "opt2", "opt3"], enumNames: ["Option One", "Option Two", "Option Three"] },
            untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
            titledMulti: {
              type: "array",
              items: {
                anyOf: [
                  { const: "value1", title: "First Choice" },
                  { const: "value2", title: "Second Choice" },
                  { const: "value3", title: "Third Choice" },
                ],
              },
            },
          },
          required: [],
        },
      });
      return { content: [{ type: "text", text: `Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}` }] };
    },
  );

  // SEP-1613: the listed inputSchema must keep $schema, $defs and additionalProperties. Zod 4 metadata is merged
  // into the generated JSON Schema, which is how the 2020-12 keywords get there.
  server.registerTool(
    "json_schema_2020_12_tool",
    {
      description: "Tool with JSON Schema 2020-12 features",
      inputSchema: z
        .strictObject({
          name: z.string().optional(),
          address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional().meta({ $ref: "#/$defs/address" }),
        })
        .meta({
          $schema: JSON_SCHEMA_2020_12,
          $defs: { address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
        }),
    },
    async (args) => ({ content: [{ type: "text", text: `received ${JSON.stringify(args)}` }] }),
  );

  // SEP-1699: close the POST stream before answering; the client resumes with GET + Last-Event-ID.
  server.registerTool("test_reconnection", { description: "Closes the SSE stream mid-call (SSE polling)" }, async (extra) => {
    await sleep(20);
    extra.closeSSEStream?.();
    await sleep(100);
    return { content: [{ type: "text", text: "Reconnection test completed" }] };
  });

  server.registerPrompt("test_simple_prompt", { description: "A simple prompt without arguments" }, () => ({
    messages: [{ role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }],
  }));
  server.registerPrompt(
    "test_prompt_with_arguments",
    {
      description: "A prompt with two arguments (arg1 completes)",
      argsSchema: {
        arg1: completable(z.string(), (value) => ["paris", "park", "party", "test", "testing"].filter((v) => v.startsWith(value))),
        arg2: z.string(),
      },
    },
    ({ arg1, arg2 }) => ({
      messages: [{ role: "user", content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
    }),
  );
  server.registerPrompt(
    "test_prompt_with_embedded_resource",
    { description: "A prompt embedding a resource", argsSchema: { resourceUri: z.string() } },
    ({ resourceUri }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "resource",
            resource: { uri: resourceUri, mimeType: "text/plain", text: "Embedded resource content for testing." },
          },
        },
        { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
      ],
    }),
  );
  server.registerPrompt("test_prompt_with_image", { description: "A prompt with an image" }, () => ({
    messages: [
      { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
      { role: "user", content: { type: "text", text: "Please analyze the image above." } },
    ],
  }));

  server.registerResource(
    "static-text",
    "test://static-text",
    { description: "A static text resource", mimeType: "text/plain" },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: "This is the content of the static text resource." }] }),
  );
  server.registerResource(
    "static-binary",
    "test://static-binary",
    { description: "A static binary resource (PNG)", mimeType: "image/png" },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: "image/png", blob: PNG }] }),
  );
  server.registerResource(
    "watched-resource",
    "test://watched-resource",
    { description: "A resource clients may subscribe to", mimeType: "text/plain" },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: "Watched resource content." }] }),
  );
  server.registerResource(
    "template",
    new ResourceTemplate("test://template/{id}/data", { list: undefined }),
    { description: "A templated resource", mimeType: "application/json" },
    async (uri, { id }) => ({
      contents: [
        { uri: uri.href, mimeType: "application/json", text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) },
      ],
    }),
  );

  // Subscriptions are only recorded: the fixtures never change, so no notifications/resources/updated follow.
  const subscriptions = new Set<string>();
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });
  return server;
}

/** DNS rebinding protection for a loopback server: Host, and Origin when present, must name a loopback host. */
function loopbackOnly(req: IncomingMessage): boolean {
  const loopback = (host: string) => ["127.0.0.1", "localhost", "[::1]"].includes(host.toLowerCase());
  const host = req.headers.host;
  if (!host || !loopback(new URL(`http://${host}`).hostname)) return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return loopback(new URL(origin).hostname);
  } catch {
    return false;
  }
}

function jsonError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }));
}

/**
 * The suite's server-sse-polling scenario (pending in 0.1.16) negotiates 2025-11-25, then POSTs and GETs with
 * `MCP-Protocol-Version: 2025-03-26`. SDK 1.x keys SSE polling on that header (priming event, closeSSEStream only
 * for >= 2025-11-25), so the scenario could never run. Every session the suite opens negotiates 2025-11-25, so
 * inside a session the fixture reads that header as 2025-11-25. The SDK parses rawHeaders, hence the edit there.
 */
function trustNegotiatedVersion(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]?.toLowerCase() === "mcp-protocol-version" && raw[i + 1] === "2025-03-26") raw[i + 1] = "2025-11-25";
}

/** Streamable HTTP at /mcp on 127.0.0.1 (stateful, resumable), the session routing of examples/demo-server. */
export async function startConformanceServer(opts: { port?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    if (!req.url?.startsWith("/mcp")) return void res.writeHead(404).end();
    // MCP 2025-11-25 transports §security: a local server validates Origin (and Host) against DNS rebinding.
    if (!loopbackOnly(req)) return jsonError(res, 403, -32000, "Forbidden: Host or Origin is not loopback");
    const sid = req.headers["mcp-session-id"];
    let t = typeof sid === "string" ? transports.get(sid) : undefined;
    if (!t) {
      if (typeof sid === "string") return jsonError(res, 404, -32001, "Session not found");
      if (req.method !== "POST") return jsonError(res, 400, -32000, "Bad Request: no session");
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        // An event store gives SSE events ids (priming event, Last-Event-ID replay); retry steers reconnection.
        eventStore: new InMemoryEventStore(),
        retryInterval: 100,
        onsessioninitialized: (id) => void transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await createConformanceServer().connect(transport);
      t = transport;
    }
    if (typeof sid === "string") trustNegotiatedVersion(req);
    await t.handleRequest(req, res);
  });
  await new Promise<void>((r) => http.listen(opts.port ?? 0, "127.0.0.1", r));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--port");
  const s = await startConformanceServer({ port: i > 0 ? Number(process.argv[i + 1]) : 0 });
  process.stdout.write(`conformance fixture server listening on ${s.url}\n`);
}
