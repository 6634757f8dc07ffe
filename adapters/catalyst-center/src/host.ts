// Hosting the Catalyst Center adapter: credentials from the headers the gateway injects (HTTP) or from
// the environment (stdio), a bounded cache of clients (so X-Auth-Tokens are reused), and the two transports.

import type { IncomingHttpHeaders } from "node:http";
import { clientCache as cachedClients, headerValue, type StatelessHttp, serveStatelessHttp } from "@mcp-edge/adapter-kit";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { CatalystCenterClient, type CatalystCenterClientOptions } from "./client.ts";
import { createCatalystServer, MissingCredentialsError } from "./server.ts";

/** Credentials of one caller: Basic for the token endpoint, or headers (an X-Auth-Token) sent as is. */
export type CatalystAuth = { username: string; password: string } | { headers: Record<string, string> };

/** Header names the gateway's credentials filter injects (servers.<name>.credentials.inject.headers). */
export const CREDENTIAL_HEADERS = {
  username: "x-catalyst-username",
  password: "x-catalyst-password",
  token: "x-auth-token",
} as const;

export interface HostOptions {
  /** Catalyst Center URL (configuration, never taken from a request). */
  baseUrl: string;
  timeoutMs?: number;
  /** Credentials used when a request brings none (stdio, or an adapter run without the gateway). */
  fallbackAuth?: CatalystAuth | undefined;
  /** Clients kept (one per distinct credential set). Default 100. */
  maxClients?: number;
}

const one = headerValue;

/** Username/password headers (the adapter gets and renews the token), or an X-Auth-Token as is. */
export function authFromHeaders(h: IncomingHttpHeaders): CatalystAuth | undefined {
  const username = one(h, CREDENTIAL_HEADERS.username);
  const password = one(h, CREDENTIAL_HEADERS.password);
  if (username && password) return { username, password };
  const token = one(h, CREDENTIAL_HEADERS.token);
  if (token) return { headers: { "x-auth-token": token } };
  return undefined;
}

/** CATALYST_CENTER_USERNAME / CATALYST_CENTER_PASSWORD. */
export function authFromEnv(env: NodeJS.ProcessEnv): CatalystAuth | undefined {
  const { CATALYST_CENTER_USERNAME: username, CATALYST_CENTER_PASSWORD: password } = env;
  return username && password ? { username, password } : undefined;
}

/** One client per credential set, keyed by a hash (the cache never holds credentials as keys). */
export function clientCache(o: HostOptions): (auth: CatalystAuth | undefined) => CatalystCenterClient {
  return cachedClients({
    max: o.maxClients,
    fallback: o.fallbackAuth,
    missing: () =>
      new MissingCredentialsError(
        `No Catalyst Center credentials: the gateway must inject ${CREDENTIAL_HEADERS.username}/${CREDENTIAL_HEADERS.password} or ${CREDENTIAL_HEADERS.token}`,
      ),
    make: (a) => {
      const opts: CatalystCenterClientOptions = { baseUrl: o.baseUrl, ...a, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) };
      return new CatalystCenterClient(opts);
    },
  });
}

export type HttpAdapter = StatelessHttp;

/** Streamable HTTP, stateless: each POST gets its own MCP server bound to that request's credentials. */
export async function serveHttp(o: HostOptions & { host?: string; port?: number; path?: string }): Promise<HttpAdapter> {
  const clients = clientCache(o);
  return serveStatelessHttp(
    (req) => {
      const auth = authFromHeaders(req.headers);
      return createCatalystServer(() => clients(auth));
    },
    { host: o.host, port: o.port, path: o.path, maxBodyBytes: 1 << 20, refuseBrowsers: true, refusals: "bare" },
  );
}

/** stdio: one server, credentials from the environment. */
export async function serveStdio(o: HostOptions): Promise<void> {
  const clients = clientCache(o);
  const mcp = createCatalystServer(() => clients(undefined));
  await mcp.connect(new StdioServerTransport());
}
