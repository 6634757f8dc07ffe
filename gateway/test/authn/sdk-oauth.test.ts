// The MCP SDK client's own OAuth support against the authn stage and the real provider, through a
// minimal harness (authn filter + RFC 9728 handler in front of an SDK server): 401 → PRM → AS → token.
// The full gateway version (relay, sessions, no-passthrough) is e2e-oauth.test.ts.

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type OAuthClientProvider, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../../src/chain/types.ts";
import { type AuthnFilter, createAuthnFilter, handleProtectedResourceMetadata } from "../../src/filters/authn/index.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import { authConfig, exchange } from "./helpers.ts";

let idp: Idp;
let server: Server;
let base: string;
let filter: AuthnFilter;

async function mcp(req: IncomingMessage, res: import("node:http").ServerResponse, principal: Principal): Promise<void> {
  const s = new McpServer({ name: "harness", version: "1.0.0" });
  s.registerTool("whoami", { description: "The caller as the gateway saw it" }, async () => ({
    content: [{ type: "text", text: JSON.stringify({ sub: principal.sub, scopes: principal.scopes, groups: principal.groups }) }],
  }));
  const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    void t.close();
    void s.close();
  });
  await s.connect(t);
  await t.handleRequest(req, res);
}

beforeAll(async () => {
  idp = await startIdp();
  server = createServer((req, res) => {
    const url = req.url ?? "/";
    const path = url.split("?")[0]!;
    const prm = handleProtectedResourceMetadata(req.method ?? "GET", path, { auth: cfg(), publicBaseUrl: base, routes: ["echo"] });
    if (prm) {
      res.writeHead(prm.status, prm.headers).end(prm.body);
      return;
    }
    if (path !== "/mcp/echo") {
      res.writeHead(404).end();
      return;
    }
    const ex = exchange("echo", req.headers, { url, httpMethod: req.method as "POST" });
    Promise.resolve(filter.onRequest!(ex)).then(async (v) => {
      if (v) {
        res.writeHead(v.status ?? v.error.spec.http, { "content-type": "application/json", ...v.headers });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: v.error.toRpcError() }));
        return;
      }
      await mcp(req, res, ex.principal!);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  filter = createAuthnFilter({ publicBaseUrl: base, auth: cfg() });
});
afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await filter?.close();
  await idp?.close();
});

function cfg() {
  return authConfig({
    allowInsecureLoopback: true,
    issuers: [{ issuer: idp.issuer }],
    scopesSupported: ["mcp:tools"],
  });
}

async function whoami(transport: StreamableHTTPClientTransport): Promise<{ sub: string; scopes: string[] }> {
  const client = new Client({ name: "test", version: "1.0.0" });
  await client.connect(transport);
  const r = await client.callTool({ name: "whoami", arguments: {} });
  await client.close();
  return JSON.parse((r.content as { text: string }[])[0]!.text);
}

describe("MCP SDK client OAuth against the authn stage", () => {
  it("client_credentials: 401 → resource_metadata → AS metadata → token for the resource → tools/call", async () => {
    const provider = new ClientCredentialsProvider({
      clientId: idp.clients.m2m.clientId,
      clientSecret: idp.clients.m2m.clientSecret,
      expectedIssuer: idp.issuer,
    });
    const me = await whoami(new StreamableHTTPClientTransport(new URL(`${base}/mcp/echo`), { authProvider: provider }));
    expect(me.sub).toBe(idp.clients.m2m.clientId);
    expect(provider.tokens()?.access_token.split(".")).toHaveLength(3);
  });

  it("authorization code + PKCE with the automatic test login", async () => {
    let authUrl: URL | undefined;
    let verifier = "";
    let tokens: OAuthTokens | undefined;
    const provider: OAuthClientProvider = {
      get redirectUrl() {
        return idp.clients.public.redirectUri;
      },
      get clientMetadata(): OAuthClientMetadata {
        return {
          redirect_uris: [idp.clients.public.redirectUri],
          token_endpoint_auth_method: "none",
          grant_types: ["authorization_code"],
          response_types: ["code"],
        };
      },
      clientInformation: (): OAuthClientInformationMixed => ({ client_id: idp.clients.public.clientId }),
      tokens: () => tokens,
      saveTokens: (t) => {
        tokens = t;
      },
      redirectToAuthorization: (u) => {
        authUrl = u;
      },
      saveCodeVerifier: (v) => {
        verifier = v;
      },
      codeVerifier: () => verifier,
    };
    const url = new URL(`${base}/mcp/echo`);
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
    await expect(new Client({ name: "t", version: "1" }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(authUrl?.searchParams.get("resource")).toBe(`${base}/mcp/echo`);
    const callback = await idp.followAuthorization(authUrl!);
    await first.finishAuth(callback.searchParams.get("code")!);
    const me = await whoami(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    expect(me.sub).toBe("alice");
  });
});
