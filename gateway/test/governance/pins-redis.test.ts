// Pins shared by two gateways through a real redis-server: a change seen by one is held by both, the
// CLI approves it in Redis, and both serve the tool again. A Redis that cannot be reached stops the start.

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type RunningGateway, startConfiguredGateway } from "../../src/assemble.ts";
import { parseConfig } from "../../src/config/load.ts";
import { RedisPinStore } from "../../src/filters/pins/redis-store.ts";
import { ToolCatalog } from "../../src/filters/tool-catalog/catalog.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { TEST_KEY } from "../helpers.ts";
import { type ChangingBackend, startChangingBackend } from "./backend.ts";
import { startRedis, type TestRedis } from "./redis-server.ts";
import { cli } from "./run-cli.ts";

let dir: string;
let redis: TestRedis;
let backend: ChangingBackend;
const gateways: RunningGateway[] = [];
let configFile: string;
const audit = (i: number) => join(dir, `audit-${i}.jsonl`);

function tree(i: number, socketPath: string): Record<string, unknown> {
  return {
    listen: { host: "127.0.0.1", port: 0 },
    sessions: { key: TEST_KEY },
    logging: { level: "silent" },
    servers: { ops: { url: backend.url } },
    governance: { pins: { store: { type: "redis", socketPath, keyPrefix: "t:pins:" }, reloadMs: 50 } },
    telemetry: { audit: { sink: "file", path: audit(i) } },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pins-redis-"));
  [redis, backend] = await Promise.all([startRedis(), startChangingBackend()]);
  for (const i of [0, 1])
    gateways.push(await startConfiguredGateway(parseConfig(tree(i, redis.socketPath), dir), { baseDir: dir, logger: silentLogger }));
  configFile = join(dir, "gateway.yaml");
  await writeFile(configFile, stringify(tree(0, redis.socketPath)));
}, 60_000);

afterAll(async () => {
  for (const g of gateways) await g.close();
  await backend?.close();
  await redis?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function listed(g: RunningGateway): Promise<string[]> {
  const c = new Client({ name: "pins-redis", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${g.url}/mcp/ops`)));
  try {
    return (await c.listTools()).tools.map((t) => t.name).sort();
  } finally {
    await c.close();
  }
}

async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("pins in Redis", () => {
  it("a change one replica saw is held by the other; the CLI's approval in Redis reaches both", async () => {
    const [a, b] = gateways as [RunningGateway, RunningGateway];
    expect(await listed(a)).toEqual(["deploy_template", "echo"]);
    // b learns the pins from Redis (a pinned them), then sees the changed definition itself.
    backend.description = "changed behind the operator's back";
    await until("a's pins in Redis", async () =>
      (await cli("tools", "list", "--config", configFile)).out.includes("deploy_template") ? true : undefined,
    );
    expect(await listed(b)).toEqual(["echo"]);
    const c = new Client({ name: "pins-redis", version: "1" });
    await c.connect(new StreamableHTTPClientTransport(new URL(`${b.url}/mcp/ops`)));
    try {
      await c.listTools();
      const e = await c.callTool({ name: "deploy_template", arguments: { template: "t", site: "paris" } }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(McpError);
      expect((e as McpError).data).toMatchObject({ gatewayCode: "TOOL_DEFINITION_CHANGED" });
    } finally {
      await c.close();
    }
    expect(await listed(a)).toEqual(["echo"]);

    const diff = await until("the change in Redis", async () => {
      const d = await cli("tools", "diff", "--config", configFile, "--route", "ops");
      return d.out.includes("changed behind") ? d : undefined;
    });
    const hash = /--hash ([0-9a-f]{12})/.exec(diff.out)![1]!;
    const ok = await cli(
      "tools",
      "approve",
      "--config",
      configFile,
      "--route",
      "ops",
      "--tool",
      "deploy_template",
      "--hash",
      hash,
      "--by",
      "ops-lead",
    );
    expect(ok.code, ok.err).toBe(0);
    for (const g of [a, b]) {
      await until("the approved tool on every replica", async () => ((await listed(g)).includes("deploy_template") ? true : undefined));
    }
    await until("the approval in both audit logs", async () => {
      const logs = await Promise.all([0, 1].map((i) => readFile(audit(i), "utf8").catch(() => "")));
      return logs.every((l) => l.includes('"tool.approved"') && l.includes("ops-lead")) ? true : undefined;
    });
  });

  it("concurrent writers never lose each other's pins (optimistic transactions)", async () => {
    const stores = await Promise.all(
      [0, 1, 2].map((i) => RedisPinStore.open({ socketPath: redis.socketPath, keyPrefix: "t:race:", origin: `w${i}`, reloadMs: 0 })),
    );
    try {
      const catalog = new ToolCatalog();
      stores.forEach((s, i) => {
        for (let n = 0; n < 15; n++) s.observe("r", catalog.learn("r", { name: `t${i}-${n}`, description: "x" })!);
      });
      await Promise.all(stores.map((s) => s.settled()));
      const fresh = await RedisPinStore.open({ socketPath: redis.socketPath, keyPrefix: "t:race:", origin: "check", reloadMs: 0 });
      expect(Object.keys(fresh.snapshot().pins.r ?? {})).toHaveLength(45);
      await fresh.close();
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it("a Redis that cannot be reached stops the gateway from starting, with the reason", async () => {
    const t = tree(9, join(dir, "no-such.sock"));
    await expect(startConfiguredGateway(parseConfig(t, dir), { baseDir: dir, logger: silentLogger })).rejects.toThrow(
      /pins: cannot use Redis/,
    );
  });
});
