// The one-tool MCP server logic shared by the two bench backends (HTTP and stdio): JSON-RPC in, JSON-RPC out.
// Deliberately tiny and allocation-light so the backend is never what a benchmark measures.

/** Protocol version answered when the client asks for one we do not recognise (MCP 2025-06-18 lifecycle: echo or counter-offer). */
export const DEFAULT_PROTOCOL_VERSION = "2025-06-18";
const KNOWN_VERSIONS = new Set(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]);

export const ECHO_TOOL = {
  name: "echo",
  description: "Returns the `text` argument unchanged",
  inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
} as const;

/** A JSON-RPC message as this backend needs to see it (no validation beyond what the answer requires). */
export interface RpcMessage {
  jsonrpc?: unknown;
  id?: string | number | null;
  method?: unknown;
  params?: {
    protocolVersion?: unknown;
    name?: unknown;
    arguments?: { text?: unknown } | undefined;
  };
}

function ok(id: string | number | null | undefined, result: unknown): string {
  return JSON.stringify({ jsonrpc: "2.0", id: id ?? null, result });
}

function fail(id: string | number | null | undefined, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", id: id ?? null, error: { code, message } });
}

/**
 * Answer one message. Returns the serialised response, or undefined for notifications and responses
 * (JSON-RPC 2.0 §4.1: a notification gets no reply).
 */
export function answer(msg: RpcMessage): string | undefined {
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return fail(null, -32600, "Invalid Request");
  if (msg.id === undefined || typeof msg.method !== "string") return undefined;
  const id = msg.id;
  switch (msg.method) {
    case "tools/call": {
      const p = msg.params;
      if (p?.name !== "echo") return fail(id, -32602, "Unknown tool");
      const text = p.arguments?.text;
      if (typeof text !== "string") return fail(id, -32602, "echo needs a string `text`");
      return ok(id, { content: [{ type: "text", text }] });
    }
    case "tools/list":
      return ok(id, { tools: [ECHO_TOOL] });
    case "initialize": {
      const asked = msg.params?.protocolVersion;
      const protocolVersion = typeof asked === "string" && KNOWN_VERSIONS.has(asked) ? asked : DEFAULT_PROTOCOL_VERSION;
      return ok(id, { protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "bench-echo", version: "0.1.0" } });
    }
    case "ping":
      return ok(id, {});
    default:
      return fail(id, -32601, "Method not found");
  }
}
