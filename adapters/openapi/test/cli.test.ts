// The mcp-openapi CLI over stdio, driven by the MCP SDK's stdio client: start-up report on stderr,
// tools listed, a call reaching the API with the key the gateway would inject as environment.

import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { examples, type RecordingApi, startRecordingApi } from "./helpers.ts";

let api: RecordingApi;
let client: Client;
let stderr = "";

beforeAll(async () => {
  api = await startRecordingApi();
  api.respond = (_r, res) =>
    res.writeHead(200, { "content-type": "application/json" }).end('{"id":5,"name":"doggie","photoUrls":[],"status":"available"}');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(import.meta.dirname, "../src/cli.ts"), "--spec", join(examples, "3.0/json/petstore.json"), "--base-url", api.url],
    env: { PATH: process.env.PATH ?? "" },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  client = new Client({ name: "cli-test", version: "1.0.0" });
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await api?.close();
});

it("serves the petstore over stdio and reports its security schemes at start", async () => {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toContain("getPetById");
  expect(stderr).toMatch(/mcp-openapi: 20 tools from .*petstore\.json → http:\/\/127\.0\.0\.1:\d+/);
  expect(stderr).toContain("security scheme api_key (apiKey, 2 operations): header api_key");
  expect(stderr).toContain("security scheme petstore_auth (oauth2, 7 operations): header authorization");
  // Over stdio there is no injected header: an operation that needs a credential is refused without a request.
  const r = await client.callTool({ name: "getPetById", arguments: { petId: 5 } });
  expect(r.isError).toBe(true);
  expect(api.requests).toHaveLength(0);
});
