// A server on the official MCP Python SDK (PyPI `mcp`, third-party) behind the gateway over stdio and
// Streamable HTTP, with the 1.x TypeScript client: the same results direct and through the gateway,
// including a log notification and a sampling request during a call.
// Regression test for issue 10, bug 7: the Python server answers DELETE with 200, `application/json`
// and an empty body, which the gateway logged as a failed session end.
// Needs the venv made by .ci/install-python-mcp.sh (run by .ci/tools.sh); skipped with a message without it.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type TestGateway } from "./helpers.ts";

const PYTHON = fileURLToPath(new URL("../../.cache/python-mcp/bin/python", import.meta.url));
const SERVER = fileURLToPath(new URL("./fixtures/python_server.py", import.meta.url));
const available = existsSync(PYTHON);
if (!available) console.warn(`relay-python: skipped, no Python SDK venv at ${PYTHON} (run bash .ci/install-python-mcp.sh)`);

let gw: TestGateway;
let http: ChildProcess;
let httpUrl: string;

beforeAll(async () => {
  if (!available) return;
  http = spawn(PYTHON, [SERVER, "http"], { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "" } });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`python server did not start: ${buf}`)), 60_000);
    http.stderr!.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /LISTENING (\d+)/.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  http.stderr!.resume();
  httpUrl = `http://127.0.0.1:${port}/mcp`;
  gw = await startGateway({ "py-stdio": { command: PYTHON, args: [SERVER, "stdio"] }, "py-http": { url: httpUrl } });
}, 90_000);
afterAll(async () => {
  await gw?.close();
  if (http && http.exitCode === null) {
    const exited = new Promise((r) => http.once("exit", r));
    http.kill("SIGTERM");
    await exited;
  }
});

async function exercise(t: Transport) {
  const logs: string[] = [];
  const c = new Client({ name: "py-test", version: "1.0.0" }, { capabilities: { sampling: {} } });
  c.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: "assistant",
    model: "test-model",
    content: { type: "text", text: "forty-two" },
  }));
  c.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
    logs.push(String(n.params.data));
  });
  await c.connect(t);
  const tools = (await c.listTools()).tools.map((x) => x.name).sort();
  const echo = await c.callTool({ name: "echo", arguments: { text: "héllo ✓" } });
  const logged = await c.callTool({ name: "log_and_echo", arguments: { text: "with a log" } });
  for (let i = 0; i < 200 && logs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const [s1, s2] = await Promise.all([
    c.callTool({ name: "sample", arguments: { prompt: "one" } }),
    c.callTool({ name: "sample", arguments: { prompt: "two" } }),
  ]);
  if (t instanceof StreamableHTTPClientTransport) await t.terminateSession();
  await c.close();
  return { tools, echo: echo.content, logged: logged.content, logs, sampled: [s1.content, s2.content] };
}

describe.skipIf(!available)("Python SDK server", () => {
  let expected: Awaited<ReturnType<typeof exercise>>;
  beforeAll(async () => {
    expected = await exercise(new StreamableHTTPClientTransport(new URL(httpUrl)));
    expect(expected.logs).toEqual(["about to echo with a log"]);
    expect(await exercise(new StdioClientTransport({ command: PYTHON, args: [SERVER, "stdio"], stderr: "ignore" }))).toEqual(expected);
  }, 60_000);

  it.each(["py-stdio", "py-http"])("%s through the gateway = direct", async (route) => {
    expect(await exercise(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${route}`)))).toEqual(expected);
  });

  it("bug 7: a DELETE answered 200 with a JSON content type and no body is a clean session end", async () => {
    const before = gw.logs.length;
    const t = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/py-http`));
    const c = new Client({ name: "py-delete", version: "1.0.0" });
    await c.connect(t);
    await c.ping();
    await t.terminateSession();
    await c.close();
    const after = gw.logs.slice(before);
    expect(after.filter((l) => l.includes("ending the backend session failed"))).toEqual([]);
  });
});
