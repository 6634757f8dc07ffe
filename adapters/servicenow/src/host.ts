// Hosting the ServiceNow adapter: credentials from the headers the gateway injects (HTTP) or from the
// environment (stdio), a bounded cache of clients (so OAuth tokens are reused), and the two transports.

import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { LRUCache } from "lru-cache";
import type { ServiceNowAuth } from "./auth.ts";
import { ServiceNowClient } from "./client.ts";
import { createServiceNowServer, MissingCredentialsError } from "./server.ts";

/** Header names the gateway's credentials filter injects (servers.<name>.credentials.inject.headers). */
export const CREDENTIAL_HEADERS = {
  username: "x-servicenow-username",
  password: "x-servicenow-password",
  clientId: "x-servicenow-client-id",
  clientSecret: "x-servicenow-client-secret",
} as const;

export interface HostOptions {
  /** ServiceNow instance URL (configuration, never taken from a request). */
  instanceUrl: string;
  timeoutMs?: number;
  /** Credentials used when a request brings none (stdio, or an adapter run without the gateway). */
  fallbackAuth?: ServiceNowAuth | undefined;
  /** Clients kept (one per distinct credential set). Default 100. */
  maxClients?: number;
}

const one = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return typeof v === "string" && v !== "" ? v : undefined;
};

/** The credentials a request carries: OAuth client headers, Basic user headers, or an Authorization header as is. */
export function authFromHeaders(h: IncomingHttpHeaders): ServiceNowAuth | undefined {
  const username = one(h, CREDENTIAL_HEADERS.username);
  const password = one(h, CREDENTIAL_HEADERS.password);
  const clientId = one(h, CREDENTIAL_HEADERS.clientId);
  const clientSecret = one(h, CREDENTIAL_HEADERS.clientSecret);
  if (clientId && clientSecret) {
    return username && password
      ? { kind: "oauth", grant: "password", clientId, clientSecret, username, password }
      : { kind: "oauth", grant: "client_credentials", clientId, clientSecret };
  }
  if (username && password) return { kind: "basic", username, password };
  const authorization = one(h, "authorization");
  if (authorization && /^(basic|bearer) \S+$/i.test(authorization)) return { kind: "headers", headers: { authorization } };
  return undefined;
}

/** SERVICENOW_USERNAME/PASSWORD (Basic), plus SERVICENOW_CLIENT_ID/SECRET for OAuth. */
export function authFromEnv(env: NodeJS.ProcessEnv): ServiceNowAuth | undefined {
  const {
    SERVICENOW_USERNAME: username,
    SERVICENOW_PASSWORD: password,
    SERVICENOW_CLIENT_ID: clientId,
    SERVICENOW_CLIENT_SECRET: clientSecret,
  } = env;
  if (clientId && clientSecret) {
    return username && password
      ? { kind: "oauth", grant: "password", clientId, clientSecret, username, password }
      : { kind: "oauth", grant: "client_credentials", clientId, clientSecret };
  }
  if (username && password) return { kind: "basic", username, password };
  return undefined;
}

/** One client per credential set, keyed by a hash (the cache never holds credentials as keys). */
export function clientCache(o: HostOptions): (auth: ServiceNowAuth | undefined) => ServiceNowClient {
  const cache = new LRUCache<string, ServiceNowClient>({ max: o.maxClients ?? 100 });
  return (auth) => {
    const a = auth ?? o.fallbackAuth;
    if (!a)
      throw new MissingCredentialsError(
        `No ServiceNow credentials: the gateway must inject ${CREDENTIAL_HEADERS.username}/${CREDENTIAL_HEADERS.password}, ${CREDENTIAL_HEADERS.clientId}/${CREDENTIAL_HEADERS.clientSecret} or Authorization`,
      );
    const key = createHash("sha256").update(JSON.stringify(a)).digest("hex");
    let c = cache.get(key);
    if (!c) {
      c = new ServiceNowClient({ baseUrl: o.instanceUrl, auth: a, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
      cache.set(key, c);
    }
    return c;
  };
}

export interface HttpAdapter {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

/** Streamable HTTP, stateless: each POST gets its own MCP server bound to that request's credentials. */
export async function serveHttp(o: HostOptions & { host?: string; port?: number; path?: string }): Promise<HttpAdapter> {
  const clients = clientCache(o);
  const path = o.path ?? "/mcp";
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://adapter");
    if (url.pathname === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (url.pathname !== path) {
      res.writeHead(404).end();
      return;
    }
    // Browsers send Origin on every POST; the gateway and MCP clients do not. Refusing it keeps a web
    // page (or a DNS-rebinding one) from driving an adapter that holds env credentials on loopback.
    if (req.headers.origin !== undefined) {
      res.writeHead(403, { "content-type": "text/plain" }).end("requests from browsers (with an Origin header) are not accepted");
      return;
    }
    if (req.method !== "POST") {
      // Stateless server: no GET stream, no session to DELETE (Streamable HTTP allows 405 for both).
      res.writeHead(405, { allow: "POST" }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (res.writableEnded) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res
          .writeHead(400, { "content-type": "application/json" })
          .end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
        return;
      }
      const auth = authFromHeaders(req.headers);
      const mcp = createServiceNowServer(() => clients(auth));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on("close", () => {
        void transport.close();
        void mcp.close();
      });
      mcp
        .connect(transport)
        .then(() => transport.handleRequest(req, res, body))
        .catch(() => {
          if (!res.headersSent) res.writeHead(500).end();
        });
    });
  });
  await new Promise<void>((resolve) => http.listen(o.port ?? 0, o.host ?? "127.0.0.1", resolve));
  const a = http.address() as AddressInfo;
  return {
    url: `http://${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}${path}`,
    server: http,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

/** stdio: one server, credentials from the environment. */
export async function serveStdio(o: HostOptions): Promise<void> {
  const clients = clientCache(o);
  const mcp = createServiceNowServer(() => clients(undefined));
  await mcp.connect(new StdioServerTransport());
}
