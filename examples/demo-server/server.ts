// A demo MCP server (official SDK 1.x) exercising everything a gateway relays: tools with
// progress, sampling, elicitation and roots; prompts; resources; errors. Used by the quickstart
// and by the gateway's tests. Run: node server.ts --stdio | --http [--port N] | --sse [--port N]

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

export function createDemoServer(name = "demo"): McpServer {
  const server = new McpServer({ name, version: "1.0.0" }, { capabilities: { logging: {} } });

  server.registerTool(
    "echo",
    { description: "Echo the text back", inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  server.registerTool(
    "add",
    { description: "Add two numbers", inputSchema: { a: z.number(), b: z.number() }, annotations: { readOnlyHint: true } },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }], structuredContent: { sum: a + b } }),
  );
  server.registerTool(
    "count",
    {
      description: "Count to n, sending a progress notification per step",
      inputSchema: { n: z.number().int().min(1).max(100), delayMs: z.number().int().min(0).max(1000).default(10) },
    },
    async ({ n, delayMs }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= n; i++) {
        if (extra.signal.aborted) throw new Error("cancelled");
        if (token !== undefined)
          await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: i, total: n } });
        await new Promise((r) => setTimeout(r, delayMs));
      }
      return { content: [{ type: "text", text: `counted to ${n}` }] };
    },
  );
  server.registerTool(
    "wait",
    { description: "Wait until cancelled or ms elapsed", inputSchema: { ms: z.number().int().min(0).max(60_000) } },
    async ({ ms }, extra) => {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        extra.signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        });
      });
      return { content: [{ type: "text", text: extra.signal.aborted ? "cancelled" : "waited" }] };
    },
  );
  server.registerTool(
    "summarize",
    { description: "Ask the client's model (sampling/createMessage)", inputSchema: { text: z.string() } },
    async ({ text }, extra) => {
      const r = await extra.sendRequest(
        {
          method: "sampling/createMessage",
          params: { messages: [{ role: "user", content: { type: "text", text: `Summarize: ${text}` } }], maxTokens: 50 },
        },
        z.object({ content: z.object({ type: z.string(), text: z.string().optional() }).passthrough() }).passthrough(),
      );
      return { content: [{ type: "text", text: `summary: ${r.content.text ?? ""}` }] };
    },
  );
  server.registerTool(
    "confirm",
    { description: "Ask the user (elicitation/create)", inputSchema: { question: z.string() } },
    async ({ question }, extra) => {
      const r = await extra.sendRequest(
        {
          method: "elicitation/create",
          params: { message: question, requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } },
        },
        z.object({ action: z.string(), content: z.record(z.string(), z.unknown()).optional() }).passthrough(),
      );
      return { content: [{ type: "text", text: `${r.action}:${JSON.stringify(r.content ?? {})}` }] };
    },
  );
  server.registerTool("list_roots", { description: "List the client's roots (roots/list)" }, async (extra) => {
    const r = await extra.sendRequest(
      { method: "roots/list" },
      z.object({ roots: z.array(z.object({ uri: z.string(), name: z.string().optional() })) }).passthrough(),
    );
    return { content: [{ type: "text", text: r.roots.map((x) => x.uri).join(",") }] };
  });
  server.registerTool("fail", { description: "Always fails (isError result)" }, async () => ({
    isError: true,
    content: [{ type: "text", text: "this tool always fails" }],
  }));
  server.registerTool("crash", { description: "Exits the process (stdio) — for crash tests" }, async () => {
    setTimeout(() => process.exit(3), 5);
    return new Promise(() => {});
  });
  server.registerTool(
    "touch_tools",
    { description: "Announces notifications/tools/list_changed", annotations: { readOnlyHint: true } },
    async () => {
      server.sendToolListChanged();
      return { content: [{ type: "text", text: "announced" }] };
    },
  );
  server.registerTool(
    "delete_things",
    { description: "Pretends to delete things", inputSchema: { what: z.string() }, annotations: { destructiveHint: true } },
    async ({ what }) => ({ content: [{ type: "text", text: `deleted ${what}` }] }),
  );

  server.registerPrompt("greet", { description: "A greeting", argsSchema: { name: z.string() } }, ({ name }) => ({
    messages: [{ role: "user", content: { type: "text", text: `Hello, ${name}!` } }],
  }));

  server.registerResource("readme", "demo://readme", { description: "A static resource", mimeType: "text/plain" }, async (uri) => ({
    contents: [{ uri: uri.href, text: "This is the demo server." }],
  }));
  server.registerResource(
    "item",
    new ResourceTemplate("demo://items/{id}", { list: undefined }),
    { description: "An item by id", mimeType: "application/json" },
    async (uri, { id }) => ({ contents: [{ uri: uri.href, text: JSON.stringify({ id }) }] }),
  );
  return server;
}

/** Streamable HTTP (stateful, one SDK transport per session) at /mcp on 127.0.0.1. */
export async function startHttpDemo(
  opts: { port?: number; host?: string; name?: string; resumable?: boolean } = {},
): Promise<{ url: string; server: Server; sessions: () => number; close(): Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    if (!req.url?.startsWith("/mcp")) {
      res.writeHead(404).end();
      return;
    }
    const sid = req.headers["mcp-session-id"];
    let t = typeof sid === "string" ? transports.get(sid) : undefined;
    if (!t) {
      if (typeof sid === "string") {
        res
          .writeHead(404, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }));
        return;
      }
      if (req.method !== "POST") {
        res.writeHead(400).end();
        return;
      }
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        // Resumable streams: events are stored and replayed after Last-Event-ID.
        ...(opts.resumable ? { eventStore: new InMemoryEventStore() } : {}),
        onsessioninitialized: (id) => {
          transports.set(id, transport);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await createDemoServer(opts.name).connect(transport);
      t = transport;
    }
    await t.handleRequest(req as IncomingMessage, res);
  });
  await new Promise<void>((r) => http.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", r));
  const a = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${a.port}/mcp`,
    server: http,
    sessions: () => transports.size,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/** Legacy HTTP+SSE (2024-11-05) at GET /sse + POST /messages. */
export async function startSseDemo(opts: { port?: number; name?: string } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const transports = new Map<string, SSEServerTransport>();
  const http = createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/sse") {
      const t = new SSEServerTransport("/messages", res);
      transports.set(t.sessionId, t);
      res.on("close", () => transports.delete(t.sessionId));
      await createDemoServer(opts.name).connect(t);
      return;
    }
    if (req.method === "POST" && req.url?.startsWith("/messages")) {
      const id = new URL(req.url, "http://x").searchParams.get("sessionId") ?? "";
      const t = transports.get(id);
      if (!t) {
        res.writeHead(404).end();
        return;
      }
      await t.handlePostMessage(req, res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(opts.port ?? 0, "127.0.0.1", r));
  const a = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${a.port}/sse`,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

const mode = process.argv[2];
if (import.meta.url === `file://${process.argv[1]}` && mode) {
  const port = process.argv.includes("--port") ? Number(process.argv[process.argv.indexOf("--port") + 1]) : 0;
  const host = process.argv.includes("--host") ? process.argv[process.argv.indexOf("--host") + 1] : "127.0.0.1";
  if (mode === "--stdio") {
    await createDemoServer("demo-stdio").connect(new StdioServerTransport());
    process.stderr.write("demo MCP server on stdio\n");
  } else if (mode === "--http") {
    const s = await startHttpDemo({ port, host, name: "demo-http" });
    process.stdout.write(`demo MCP server listening on ${s.url}\n`);
  } else if (mode === "--sse") {
    const s = await startSseDemo({ port, name: "demo-sse" });
    process.stdout.write(`demo MCP server listening on ${s.url}\n`);
  }
}
