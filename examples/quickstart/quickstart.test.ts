// The quickstart starts, serves both demo routes to the SDK client, and stops cleanly.
import { spawn } from "node:child_process";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { expect, it } from "vitest";

it("npm run quickstart: prints the URL, both routes answer, Ctrl+C stops it", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const p = spawn(process.execPath, ["examples/quickstart/run.ts", "--port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  try {
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`quickstart did not start: ${out}`)), 20_000);
      p.stdout!.on("data", (c) => {
        out += c;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m && out.includes("Ctrl+C")) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      p.on("exit", (code) => reject(new Error(`quickstart exited ${code}: ${out}`)));
    });
    expect(out).toContain(`${url}/mcp/demo-stdio`);
    const key = /dev-1: (\S+)/.exec(out)?.[1];
    expect(key).toMatch(/^mgw_dev_/);
    const noMfaKey = /dev-2: (\S+)/.exec(out)?.[1];
    expect(noMfaKey).toMatch(/^mgw_dev_/);
    // Without the key: 401 with the RFC 9728 metadata pointer.
    const anon = await fetch(`${url}/mcp/demo-http`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "anon", version: "1" } },
      }),
    });
    expect(anon.status).toBe(401);
    expect(anon.headers.get("www-authenticate")).toContain("resource_metadata=");
    for (const route of ["demo-stdio", "demo-http"]) {
      const c = new Client({ name: "quickstart-test", version: "1" });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`${url}/mcp/${route}`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
      );
      const r = await c.callTool({ name: "add", arguments: { a: 20, b: 22 } });
      expect(r.structuredContent).toEqual({ sum: 42 });
      // dev-1 counts as MFA-verified in dev mode (loopback only): execute tools answer.
      const counted = await c.callTool({ name: "count", arguments: { n: 1 } });
      expect(counted.isError).toBeFalsy();
      await c.close();
      // dev-2 carries no MFA: execute gets the RFC 9470 step-up challenge, as a password-only login would.
      const c2 = new Client({ name: "quickstart-test-no-mfa", version: "1" });
      await c2.connect(
        new StreamableHTTPClientTransport(new URL(`${url}/mcp/${route}`), {
          requestInit: { headers: { authorization: `Bearer ${noMfaKey}` } },
        }),
      );
      expect((await c2.callTool({ name: "add", arguments: { a: 1, b: 1 } })).structuredContent).toEqual({ sum: 2 });
      await expect(c2.callTool({ name: "count", arguments: { n: 1 } })).rejects.toThrow();
      await c2.close();
    }
    // The audit log names who called what.
    expect(out).toMatch(/"mcp\.method\.name":"tools\/call"|"tools\/call"/);
  } finally {
    p.kill("SIGINT");
    await new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)));
  }
  expect(p.exitCode).toBe(0);
});
