// Fixtures for the hardening tests: a real redis-server on a private unix socket, a policy bundle
// built by the real OPA with test grants, a header-driven test authn, and raw HTTP helpers.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { buildPolicyBundle } from "../../../policies/test/opa.ts";
import type { Filter } from "../../src/chain/types.ts";

export interface RedisServer {
  readonly socketPath: string;
  readonly dir: string;
  stop(): Promise<void>;
}

/** redis-server (apt) on a unix socket in a fresh directory; no TCP port, no persistence. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), "gw-redis-"));
  const socketPath = join(dir, "redis.sock");
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = createClient({ socket: { path: socketPath, reconnectStrategy: false } });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.ping();
      await c.close();
      break;
    } catch {
      c.destroy();
      if (Date.now() > deadline || child.exitCode !== null) throw new Error("redis-server did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    socketPath,
    dir,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Build a wasm bundle of the project's policy with `grants` added to the roles (group → grants). */
export function buildBundle(dir: string, grants: Record<string, unknown[]>): Promise<string> {
  return buildPolicyBundle(dir, (c) => Object.assign(c.roles, grants));
}

/** Test-only authn: X-Test-User / X-Test-Groups → Principal; no X-Test-User → 401 (UNAUTHENTICATED). */
export function headerAuthn(): Filter {
  return {
    name: "test-authn",
    stage: "authn",
    async onRequest(ex) {
      const u = ex.headers["x-test-user"];
      if (typeof u !== "string") {
        const { GatewayError } = await import("../../src/errors.ts");
        return { error: new GatewayError("UNAUTHENTICATED"), headers: { "www-authenticate": "Bearer" } };
      }
      const g = ex.headers["x-test-groups"];
      ex.principal = {
        sub: u,
        iss: "https://idp.test",
        groups: typeof g === "string" ? g.split(",").filter(Boolean) : [],
        scopes: [],
        amr: ["pwd", "mfa"],
        claims: {},
      };
      return undefined;
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP request (node:http, so headers such as Host are sent exactly as given). */
export function raw(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number },
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: opts.method ?? "POST",
        path: opts.path ?? u.pathname,
        headers: opts.headers ?? {},
        setHost: opts.headers?.host === undefined,
        timeout: opts.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

export function gatewayCode(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { error?: { data?: { gatewayCode?: string } } };
    return v.error?.data?.gatewayCode;
  } catch {
    return undefined;
  }
}

/** What the inventory backend saw: every resources/read URI and completion ref, as received. */
export interface InventoryBackend {
  readonly url: string;
  readonly reads: string[];
  readonly completions: unknown[];
  close(): Promise<void>;
}

/**
 * A real 1.x SDK server (stateless Streamable HTTP, JSON answers) with a public and a secret resource
 * under one host, and a completable template. The SDK resolves dot segments (WHATWG URL), as the attack did.
 */
export async function startInventoryBackend(): Promise<InventoryBackend> {
  const { McpServer, ResourceTemplate } = await import("@modelcontextprotocol/sdk/server/mcp.js");
  const { StreamableHTTPServerTransport } = await import("@modelcontextprotocol/sdk/server/streamableHttp.js");
  const { createServer } = await import("node:http");
  const reads: string[] = [];
  const completions: unknown[] = [];
  const make = () => {
    const s = new McpServer({ name: "inventory", version: "1" }, { capabilities: { resources: {}, completions: {} } });
    s.registerResource("public-info", "catalyst://inventory/public/info", { mimeType: "text/plain" }, async (uri) => {
      reads.push(uri.href);
      return { contents: [{ uri: uri.href, text: "public" }] };
    });
    s.registerResource("secret-keys", "catalyst://inventory/secret/keys", { mimeType: "text/plain" }, async (uri) => {
      reads.push(uri.href);
      return { contents: [{ uri: uri.href, text: "SECRET-KEY-MATERIAL" }] };
    });
    s.registerResource(
      "secret-by-name",
      new ResourceTemplate("catalyst://inventory/secret/{name}", { list: undefined, complete: { name: () => ["keys", "passwords"] } }),
      {},
      async (uri) => ({ contents: [{ uri: uri.href, text: "SECRET" }] }),
    );
    s.registerResource(
      "public-by-name",
      new ResourceTemplate("catalyst://inventory/public/{name}", { list: undefined, complete: { name: () => ["info", "status"] } }),
      {},
      async (uri) => ({ contents: [{ uri: uri.href, text: "public" }] }),
    );
    return s;
  };
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const m = body as { method?: string; params?: { ref?: unknown } } | undefined;
    if (m?.method === "completion/complete") completions.push(m.params?.ref);
    const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = make();
    res.on("close", () => {
      void t.close();
      void server.close();
    });
    await server.connect(t);
    await t.handleRequest(req, res, body);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const { port } = http.address() as import("node:net").AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    reads,
    completions,
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
