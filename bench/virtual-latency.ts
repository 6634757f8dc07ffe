// Latency of one tools/call through a virtual server (`npm run bench:virtual`), against the same call on the
// member's own route and straight to the backend: sequential SDK calls in interleaved rounds, p50/p99 in ms.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseConfig } from "../gateway/src/config/load.ts";
import { silentLogger } from "../gateway/src/log/logger.ts";
import { startGateway } from "../gateway/src/server.ts";
import { startFastBackend } from "./fast-backend.ts";
import { echoText } from "./load.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CALLS = Number(process.env.BENCH_CALLS ?? 200);

async function connect(url: string): Promise<Client> {
  const c = new Client({ name: "bench-virtual", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(url)));
  await c.listTools();
  return c;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const backend = await startFastBackend();
const gw = await startGateway(
  parseConfig(
    {
      listen: { host: "127.0.0.1", port: 0 },
      sessions: { key: "bench-session-key-0123456789abcdef-0123456789" },
      logging: { level: "silent" },
      servers: { fast: { url: backend.url, tools: { pins: "off", validation: "off" } } },
      virtualServers: { v: { servers: ["fast"] } },
      telemetry: { audit: { enabled: false } },
    },
    process.cwd(),
  ),
  { baseDir: process.cwd(), logger: silentLogger },
);
try {
  const text = echoText(1024);
  const paths = {
    direct: { client: await connect(backend.url), tool: "echo" },
    route: { client: await connect(`${gw.url}/mcp/fast`), tool: "echo" },
    virtual: { client: await connect(`${gw.url}/mcp/v`), tool: "fast__echo" },
  };
  const samples: Record<string, number[]> = { direct: [], route: [], virtual: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, p] of Object.entries(paths)) {
      for (let i = 0; i < CALLS; i++) {
        const t0 = performance.now();
        const res = await p.client.callTool({ name: p.tool, arguments: { text } });
        const dt = performance.now() - t0;
        if ((res.content as Array<{ text?: string }>)[0]?.text !== text) throw new Error(`${name}: wrong answer`);
        if (i >= 10) samples[name]!.push(dt); // the first calls of a round warm the path up
      }
    }
  }
  const p50 = (n: string) =>
    pct(
      samples[n]!.sort((a, b) => a - b),
      0.5,
    );
  const p99 = (n: string) => pct(samples[n]!, 0.99);
  const rows = Object.keys(samples).map((n) => ({
    path: n,
    p50ms: +p50(n).toFixed(3),
    p99ms: +p99(n).toFixed(3),
    "p50 / direct": +(p50(n) / p50("direct")).toFixed(2),
    "p50 / route": +(p50(n) / p50("route")).toFixed(2),
  }));
  console.table(rows);
  for (const p of Object.values(paths)) await p.client.close();
} finally {
  await gw.close();
  await backend.close();
}
