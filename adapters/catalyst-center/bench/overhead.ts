// What the adapters cost over calling the backend API directly: the same read (ServiceNow get incident,
// Catalyst Center list devices) as a direct client call vs an MCP tools/call through the adapter over
// Streamable HTTP, against the fakes; and, as the floor of any stateless MCP server, a bare SDK echo tool.
// Interleaved rounds, c=1; prints p50/p99 and the ratio to the direct call.
// Usage: node adapters/catalyst-center/bench/overhead.ts [rounds=8] [calls-per-round=100]

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ServiceNowClient, CREDENTIAL_HEADERS as SN_HEADERS, serveHttp as serveServiceNow } from "@mcp-edge/adapter-servicenow";
import { startServiceNowFake } from "@mcp-edge/adapter-servicenow/fake";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { CatalystCenterClient } from "../src/client.ts";
import { startCatalystFake } from "../src/fake/index.ts";
import { CREDENTIAL_HEADERS as CC_HEADERS, serveHttp as serveCatalyst } from "../src/host.ts";

const rounds = Number(process.argv[2] ?? 8);
const perRound = Number(process.argv[3] ?? 100);

const sn = await startServiceNowFake();
const cc = await startCatalystFake();
const snAdapter = await serveServiceNow({ instanceUrl: sn.url });
const ccAdapter = await serveCatalyst({ baseUrl: cc.url });

const snDirect = new ServiceNowClient({ baseUrl: sn.url, auth: { kind: "basic", username: "itil.agent", password: "itil-password" } });
const inc = await snDirect.createIncident({ short_description: "bench" });
const ccDirect = new CatalystCenterClient({ baseUrl: cc.url, username: "admin", password: "admin-password" });

async function mcp(url: string, headers: Record<string, string>): Promise<Client> {
  const c = new Client({ name: "bench", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return c;
}
// The floor: a stateless SDK server with one echo tool, built per request like the adapters.
const echoShape = { text: z.string() };
const bare = createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const s = new McpServer({ name: "echo", version: "1" });
    s.registerTool("echo", { inputSchema: echoShape }, async ({ text }) => ({ content: [{ type: "text", text }] }));
    const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void t.close();
      void s.close();
    });
    void s.connect(t).then(() => t.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString("utf8"))));
  });
});
await new Promise<void>((r) => bare.listen(0, "127.0.0.1", r));
const bareMcp = await mcp(`http://127.0.0.1:${(bare.address() as AddressInfo).port}/mcp`, {});
const snMcp = await mcp(snAdapter.url, { [SN_HEADERS.username]: "itil.agent", [SN_HEADERS.password]: "itil-password" });
const ccMcp = await mcp(ccAdapter.url, { [CC_HEADERS.username]: "admin", [CC_HEADERS.password]: "admin-password" });

const cases: Record<string, () => Promise<unknown>> = {
  "sdk-floor adapter": () => bareMcp.callTool({ name: "echo", arguments: { text: "x" } }),
  "servicenow direct": () => snDirect.getIncident(inc.number!),
  "servicenow adapter": async () => {
    const r = await snMcp.callTool({ name: "get_incident", arguments: { number: inc.number } });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  },
  "catalyst direct": () => ccDirect.listDevices({ hostname: "paris-core-01" }),
  "catalyst adapter": async () => {
    // list_devices also reads device health (one more backend call) to report each device's site.
    const r = await ccMcp.callTool({ name: "list_devices", arguments: { hostname: "paris-core-01" } });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  },
};
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const f of Object.values(cases)) for (let i = 0; i < 20; i++) await f(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of Object.entries(cases)) {
    for (let i = 0; i < perRound; i++) {
      const t0 = performance.now();
      await f();
      samples[name]!.push(performance.now() - t0);
    }
  }
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const rows = Object.entries(samples).map(([name, xs]) => ({ name, p50: pct(xs, 50), p99: pct(xs, 99) }));
for (const r of rows) {
  const direct = rows.find((x) => x.name === `${r.name.split(" ")[0]} direct`) ?? rows.find((x) => x.name === "servicenow direct")!;
  console.log(
    `${r.name.padEnd(20)} p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  p50 ratio to direct ${(r.p50 / direct.p50).toFixed(2)}`,
  );
}
await Promise.all([snMcp.close(), ccMcp.close(), bareMcp.close()]);
bare.close();
await Promise.all([snAdapter.close(), ccAdapter.close()]);
await Promise.all([sn.close(), cc.close()]);
