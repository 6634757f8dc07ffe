// Hosting the ServiceNow adapter: credentials from the headers the gateway injects (HTTP) or from the
// environment (stdio), a bounded cache of clients (so OAuth tokens are reused), and the two transports.

import type { IncomingHttpHeaders } from "node:http";
import { clientCache as cachedClients, headerValue, type StatelessHttp, serveStatelessHttp } from "@mcp-edge/adapter-kit";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
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

const one = headerValue;

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
  return cachedClients({
    max: o.maxClients,
    fallback: o.fallbackAuth,
    missing: () =>
      new MissingCredentialsError(
        `No ServiceNow credentials: the gateway must inject ${CREDENTIAL_HEADERS.username}/${CREDENTIAL_HEADERS.password}, ${CREDENTIAL_HEADERS.clientId}/${CREDENTIAL_HEADERS.clientSecret} or Authorization`,
      ),
    make: (a) => new ServiceNowClient({ baseUrl: o.instanceUrl, auth: a, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }),
  });
}

export type HttpAdapter = StatelessHttp;

/** Streamable HTTP, stateless: each POST gets its own MCP server bound to that request's credentials. */
export async function serveHttp(o: HostOptions & { host?: string; port?: number; path?: string }): Promise<HttpAdapter> {
  const clients = clientCache(o);
  return serveStatelessHttp(
    (req) => {
      const auth = authFromHeaders(req.headers);
      return createServiceNowServer(() => clients(auth));
    },
    { host: o.host, port: o.port, path: o.path, maxBodyBytes: 1 << 20, refuseBrowsers: true, refusals: "bare" },
  );
}

/** stdio: one server, credentials from the environment. */
export async function serveStdio(o: HostOptions): Promise<void> {
  const clients = clientCache(o);
  const mcp = createServiceNowServer(() => clients(undefined));
  await mcp.connect(new StdioServerTransport());
}
