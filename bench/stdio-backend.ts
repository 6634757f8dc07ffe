// The bench's echo MCP server over stdio (no SDK): newline-delimited JSON-RPC on stdin/stdout, per MCP
// 2025-06-18 §Transports/stdio (messages are delimited by newlines and MUST NOT contain embedded newlines).

import { answer, type RpcMessage } from "./mcp-echo.ts";

let pending = "";

function onLine(line: string, out: string[]): void {
  if (line.length === 0) return;
  let msg: RpcMessage;
  try {
    msg = JSON.parse(line) as RpcMessage;
  } catch {
    out.push(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
    return;
  }
  const r = answer(msg);
  if (r !== undefined) out.push(r);
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  const data = pending + chunk;
  const out: string[] = [];
  let start = 0;
  for (let nl = data.indexOf("\n", start); nl !== -1; nl = data.indexOf("\n", start)) {
    const end = nl > start && data.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    onLine(data.slice(start, end), out);
    start = nl + 1;
  }
  pending = start === data.length ? "" : data.slice(start);
  // One write per input chunk: answers to messages that arrived together leave together.
  if (out.length > 0) process.stdout.write(out.join("\n") + "\n");
});
process.stdin.on("end", () => process.exit(0));
