// The process runtime: the admin listener (probes, /metrics, /config; the MCP port serves MCP only), config
// reload (swap on a good file, refuse a bad one with the validate report, sessions on unchanged routes survive,
// audited), and — with a real process — SIGHUP reload and the SIGTERM drain of a request in flight.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/log/logger.ts";
import { type Runtime, startRuntime } from "../src/runtime.ts";

const demo = fileURLToPath(new URL("../../examples/demo-server/server.ts", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const KEY = "runtime-test-session-key-0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "mgw-runtime-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(servers: string[], extra: string[] = []): string {
  return [
    "listen: { host: 127.0.0.1, port: 0 }",
    `sessions: { key: "${KEY}" }`,
    "admin: { port: 0, token: admin-token-for-tests }",
    "telemetry: { audit: { enabled: true, sink: file, path: audit.jsonl } }",
    ...extra,
    "servers:",
    ...servers.map((s) => `  ${s}: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(demo)}, "--stdio"] }`),
  ].join("\n");
}

async function connect(url: string, route: string): Promise<Client> {
  const c = new Client({ name: "runtime-test", version: "1" });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp/${route}`)));
  return c;
}

describe("runtime: admin listener and reload", () => {
  const file = join(dir, "gateway.yaml");
  let rt: Runtime;
  const logs: string[] = [];
  const logger = createLogger({
    level: "info",
    stream: new Writable({
      write(c, _e, cb) {
        logs.push(String(c));
        cb();
      },
    }),
  });
  afterAll(async () => rt?.close());

  it("the admin port answers probes and config status (token for /config); the MCP port serves MCP only", async () => {
    writeFileSync(file, config(["a", "b"]));
    rt = await startRuntime(file, { logger, watch: true, debounceMs: 50 });
    expect(rt.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${rt.adminUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${rt.adminUrl}/readyz`)).json()).toEqual({ status: "ready" });
    expect((await fetch(`${rt.adminUrl}/config`)).status).toBe(401);
    const status = (await (
      await fetch(`${rt.adminUrl}/config`, { headers: { authorization: "Bearer admin-token-for-tests" } })
    ).json()) as {
      servers: string[];
      sha256: string;
    };
    expect(status.servers).toEqual(["a", "b"]);
    expect(status.sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const p of ["/healthz", "/readyz", "/metrics"]) expect((await fetch(`${rt.url}${p}`)).status, p).toBe(404);
  });

  it("a good new file swaps: added and changed routes serve, the stdio session of an unchanged route survives", async () => {
    const a = await connect(rt.url, "a");
    expect((await a.callTool({ name: "add", arguments: { a: 1, b: 2 } })).structuredContent).toEqual({ sum: 3 });
    const before = rt.current;
    writeFileSync(file, config(["a", "c"]));
    const r = await rt.reload();
    expect(r.ok).toBe(true);
    expect(r.routes).toEqual({ added: ["c"], removed: ["b"], changed: [], kept: ["a"] });
    expect(rt.current).not.toBe(before);
    // Same session id, same stdio child: the kept route's upstream moved to the new generation.
    expect((await a.callTool({ name: "add", arguments: { a: 20, b: 22 } })).structuredContent).toEqual({ sum: 42 });
    const c = await connect(rt.url, "c");
    expect((await c.callTool({ name: "echo", arguments: { text: "new route" } })).content).toEqual([{ type: "text", text: "new route" }]);
    const gone = await fetch(`${rt.url}/mcp/b`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(gone.status).toBe(404);
    await a.close();
    await c.close();
  });

  it("an invalid file is refused with the validate report; the running config stays; both outcomes are audited", async () => {
    writeFileSync(file, config(["a", "c"]).replace("command:", "comand:"));
    const r = await rt.reload();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toContain('unknown key "comand" (did you mean "command"?)');
    const a = await connect(rt.url, "a");
    expect((await a.callTool({ name: "add", arguments: { a: 2, b: 2 } })).structuredContent).toEqual({ sum: 4 });
    await a.close();
    expect(logs.join("")).toContain("config reload refused");
    const status = (await (
      await fetch(`${rt.adminUrl}/config`, { headers: { authorization: "Bearer admin-token-for-tests" } })
    ).json()) as {
      servers: string[];
      lastReload: { ok: boolean };
    };
    expect(status.servers).toEqual(["a", "c"]);
    expect(status.lastReload.ok).toBe(false);
    await rt.current.audit?.flush();
    const { readFileSync } = await import("node:fs");
    const audit = readFileSync(join(dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l["event.action"] === "config.reload");
    // The file watcher may also have seen the bad write: refused once or twice, never applied.
    const outcomes = audit.map((l) => l["event.outcome"]);
    expect(outcomes[0]).toBe("success");
    expect(outcomes.slice(1).length).toBeGreaterThan(0);
    expect(new Set(outcomes.slice(1))).toEqual(new Set(["failure"]));
    expect(JSON.stringify(audit[1]!["mcp_gateway.reload.errors"])).toContain("comand");
  });

  it("a change of the file reloads by itself", async () => {
    writeFileSync(file, config(["a", "d"]));
    const deadline = Date.now() + 20_000;
    while (!rt.current.gateway.routes.has("d") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect([...rt.current.gateway.routes.keys()]).toEqual(["a", "d"]);
  });
});

describe("the mcp-gateway process: SIGHUP reloads, SIGTERM drains", () => {
  it("a request in flight at SIGTERM completes; new connections are refused; exit 0", async () => {
    const file = join(dir, "proc.yaml");
    writeFileSync(file, config(["a"]));
    const p: ChildProcess = spawn(process.execPath, [cli, "--config", file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout!.on("data", (d) => (out += d));
    p.stderr!.on("data", (d) => (out += d));
    try {
      const until = async (re: RegExp, ms = 60_000) => {
        const deadline = Date.now() + ms;
        while (!re.test(out) && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 50));
        const m = re.exec(out);
        if (!m) throw new Error(`no ${re} in: ${out}`);
        return m;
      };
      const url = (await until(/listening on (http:\/\/\S+)/))[1]!;
      const admin = (await until(/admin \(healthz, readyz, metrics, config\) on (http:\/\/\S+)/))[1]!;
      writeFileSync(file, config(["a", "b"]));
      p.kill("SIGHUP");
      await until(/config reloaded/);
      const c = await connect(url, "b");
      const slow = c.callTool({ name: "wait", arguments: { ms: 1500 } });
      // The call is in flight at the backend before the signal.
      await new Promise((r) => setTimeout(r, 300));
      p.kill("SIGTERM");
      await until(/draining/);
      expect((await fetch(`${admin}/readyz`).catch(() => ({ status: 503 }))).status).toBe(503);
      expect((await slow).content).toEqual([{ type: "text", text: "waited" }]);
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once("exit", r)));
      expect(p.exitCode).toBe(0);
      await expect(fetch(`${url}/mcp/a`, { method: "POST", body: "{}" })).rejects.toThrow();
    } finally {
      if (p.exitCode === null) p.kill("SIGKILL");
    }
  }, 90_000);
});
