// The shared stateless host with a real SDK server and client: tools answer per request (the builder sees
// each request's headers), and every refusal (404, 403, 405, 413, 400) in both refusal styles.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StatelessHttp, serveStatelessHttp } from "../src/index.ts";

const LIMIT = 4096;

function build(req: { headers: Record<string, string | string[] | undefined> }): McpServer {
  const s = new McpServer({ name: "kit-test", version: "1" });
  const who = String(req.headers["x-who"] ?? "nobody");
  s.registerTool("whoami", { description: "the caller's x-who header" }, () => ({ content: [{ type: "text", text: who }] }));
  return s;
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body,
  });
/** The JSON-RPC error of a refusal. */
const errorOf = async (r: Response) => ((await r.json()) as { error: { code: number; message: string } }).error;
const LIST = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });

let rpc: StatelessHttp;
let bare: StatelessHttp;
beforeAll(async () => {
  rpc = await serveStatelessHttp(build, { maxBodyBytes: LIMIT });
  bare = await serveStatelessHttp(build, { maxBodyBytes: LIMIT, refuseBrowsers: true, refusals: "bare" });
});
afterAll(async () => {
  await rpc?.close();
  await bare?.close();
});

describe("serveStatelessHttp", () => {
  it("a fresh server per request, built from that request's headers", async () => {
    for (const who of ["alice", "bob"]) {
      const c = new Client({ name: "kit", version: "1" });
      await c.connect(new StreamableHTTPClientTransport(new URL(rpc.url), { requestInit: { headers: { "x-who": who } } }));
      const r = await c.callTool({ name: "whoami", arguments: {} });
      expect(r.content).toEqual([{ type: "text", text: who }]);
      await c.close();
    }
    expect((await fetch(new URL("/healthz", rpc.url))).status).toBe(200);
  });

  it('"json-rpc" refusals say why in a JSON-RPC error', async () => {
    const notFound = await fetch(new URL("/other", rpc.url));
    expect(notFound.status).toBe(404);
    expect((await errorOf(notFound)).code).toBe(-32601);
    const get = await fetch(rpc.url);
    expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"]);
    expect((await errorOf(get)).message).toBe("stateless server: POST only");
    const big = await post(rpc.url, JSON.stringify({ pad: "x".repeat(LIMIT) }));
    expect(big.status).toBe(413);
    expect((await errorOf(big)).message).toBe(`request body larger than ${LIMIT} bytes`);
    const bad = await post(rpc.url, "{");
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toEqual({ code: -32700, message: "request body is not JSON" });
    // Origin is not refused unless asked.
    expect((await post(rpc.url, LIST, { origin: "http://evil.example" })).status).toBe(200);
  });

  it('"bare" refusals are empty but for the parse error; Origin gets 403 before anything else', async () => {
    const origin = await post(bare.url, LIST, { origin: "http://evil.example" });
    expect(origin.status).toBe(403);
    expect(await origin.text()).toMatch(/Origin header/);
    const notFound = await fetch(new URL("/other", bare.url));
    expect([notFound.status, await notFound.text()]).toEqual([404, ""]);
    const del = await fetch(bare.url, { method: "DELETE" });
    expect([del.status, del.headers.get("allow"), await del.text()]).toEqual([405, "POST", ""]);
    const big = await post(bare.url, JSON.stringify({ pad: "x".repeat(LIMIT) }));
    expect([big.status, await big.text()]).toEqual([413, ""]);
    const bad = await post(bare.url, "{");
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toEqual({ code: -32700, message: "Parse error" });
    expect((await post(bare.url, LIST)).status).toBe(200);
  });
});
