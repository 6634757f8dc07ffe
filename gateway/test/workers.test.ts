// Worker mode: `mcp-gateway --workers 2` serves one port from two processes; an HTTP session opened on one
// worker continues on the other (sealed session ids); SIGTERM to the primary drains both and exits 0. The
// worker count defaults to 1 for configs whose sessions live in one process (stdio, dev mode).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, fetch } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../src/config/load.ts";
import { singleProcessReason } from "../src/workers.ts";

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const demo = fileURLToPath(new URL("../../examples/demo-server/server.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "mgw-workers-"));
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]): { p: ChildProcess; out: () => string; until: (re: RegExp) => Promise<RegExpExecArray> } {
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  let out = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (out += d));
  const until = async (re: RegExp) => {
    const deadline = Date.now() + 60_000;
    while (!re.test(out) && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    const m = re.exec(out);
    if (!m) throw new Error(`no ${re} in: ${out}`);
    return m;
  };
  return { p, out: () => out, until };
}

describe("--workers", () => {
  it("defaults to one process when sessions cannot move between processes", () => {
    const base = { sessions: { key: "k".repeat(40) } };
    expect(singleProcessReason(parseConfig({ ...base, servers: { a: { url: "http://127.0.0.1:1/mcp" } } }, dir))).toBeUndefined();
    expect(singleProcessReason(parseConfig({ ...base, servers: { a: { command: "node" } } }, dir))).toMatch(/stdio/);
    expect(
      singleProcessReason(
        parseConfig({ ...base, auth: { dev: true }, authz: false, servers: { a: { url: "http://127.0.0.1:1/mcp" } } }, dir),
      ),
    ).toMatch(/dev-mode/);
  });

  it("two workers on one port: a session continues whichever worker answers; SIGTERM drains both, exit 0", async () => {
    const backend = start([demo, "--http", "--port", "0"]);
    const backendUrl = (await backend.until(/listening on (http:\/\/\S+)/))[1]!;
    const file = join(dir, "gateway.yaml");
    writeFileSync(
      file,
      [
        "listen: { host: 127.0.0.1, port: 0 }",
        "admin: { host: 127.0.0.1, port: 0 }",
        'sessions: { key: "workers-test-session-key-0123456789abcdef" }',
        "servers:",
        `  demo: { url: "${backendUrl}" }`,
      ].join("\n"),
    );
    const gw = start([cli, "--config", file, "--workers", "2"]);
    await gw.until(/mcp-gateway: 2 workers/);
    const url = (await gw.until(/listening on (http:\/\/\S+)/))[1]!;
    const admin = (await gw.until(/admin \(healthz, readyz, metrics, config\) on (http:\/\/\S+)/))[1]!;
    // Both workers up: two "listening" lines, on one port.
    const deadline = Date.now() + 60_000;
    while ((gw.out().match(/listening on http/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(new Set([...gw.out().matchAll(/listening on (http:\/\/\S+)/g)].map((m) => m[1]))).toEqual(new Set([url]));

    // A fresh connection per request: the cluster hands connections to the workers in turn.
    const once = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
      const agent = new Agent({ pipelining: 0 });
      try {
        const r = await fetch(path, { ...init, dispatcher: agent });
        return { status: r.status, headers: r.headers, text: await r.text() };
      } finally {
        await agent.close();
      }
    };
    const pids = new Set<number>();
    for (let i = 0; i < 8 && pids.size < 2; i++) pids.add((JSON.parse((await once(`${admin}/config`)).text) as { pid: number }).pid);
    expect(pids.size).toBe(2);

    const headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
    };
    const init = await once(`${url}/mcp/demo`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "workers", version: "1" } },
      }),
    });
    expect(init.status).toBe(200);
    const sid = init.headers.get("mcp-session-id")!;
    expect(sid).toBeTruthy();
    const withSession = { ...headers, "mcp-session-id": sid };
    await once(`${url}/mcp/demo`, {
      method: "POST",
      headers: withSession,
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    });
    // Six calls on six connections: both workers serve the one session.
    for (let i = 0; i < 6; i++) {
      const r = await once(`${url}/mcp/demo`, {
        method: "POST",
        headers: withSession,
        body: JSON.stringify({ jsonrpc: "2.0", id: 10 + i, method: "tools/call", params: { name: "add", arguments: { a: i, b: 1 } } }),
      });
      expect(r.status, r.text).toBe(200);
      expect(r.text).toContain(`"sum":${i + 1}`);
    }
    gw.p.kill("SIGTERM");
    await new Promise((r) => (gw.p.exitCode !== null ? r(null) : gw.p.once("exit", r)));
    expect(gw.p.exitCode).toBe(0);
    backend.p.kill("SIGTERM");
  }, 120_000);
});
