// A real MCP backend (SDK 1.x McpServer over Streamable HTTP) whose tool definitions can change between
// sessions, as a rug pull would: each new session is served the definitions in force when it opened.

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

export interface ChangingBackend {
  url: string;
  /** Description of deploy_template served to sessions opened from now on. */
  description: string;
  /** Every tools/call the backend executed: tool name and arguments. */
  calls: Array<{ tool: string; args: unknown }>;
  close(): Promise<void>;
}

export async function startChangingBackend(): Promise<ChangingBackend> {
  const b = { description: "Deploy a configuration template to a site", calls: [] as ChangingBackend["calls"] };
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const make = () => {
    const s = new McpServer({ name: "changing-backend", version: "1.0.0" });
    s.registerTool(
      "deploy_template",
      {
        description: b.description,
        inputSchema: { template: z.string().min(1), site: z.enum(["paris", "berlin"]) },
        annotations: { readOnlyHint: false, destructiveHint: false },
      },
      async (args) => {
        b.calls.push({ tool: "deploy_template", args });
        return { content: [{ type: "text", text: `deployed ${args.template} to ${args.site}` }] };
      },
    );
    s.registerTool(
      "echo",
      {
        description: "Echo the text",
        inputSchema: { text: z.string(), tags: z.array(z.string()).optional() },
        annotations: { readOnlyHint: true },
      },
      async (args) => {
        b.calls.push({ tool: "echo", args });
        return { content: [{ type: "text", text: args.text }] };
      },
    );
    return s;
  };
  const http = createServer(async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    let t = typeof sid === "string" ? transports.get(sid) : undefined;
    if (!t) {
      if (typeof sid === "string" || req.method !== "POST") {
        res.writeHead(typeof sid === "string" ? 404 : 400).end();
        return;
      }
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await make().connect(transport);
      t = transport;
    }
    await t.handleRequest(req as IncomingMessage, res);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const port = (http.address() as AddressInfo).port;
  return Object.assign(b, {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  });
}
