// End to end through the real gateway (relay, session stage, upstream): the MCP SDK client's own OAuth
// support against the real provider, session replay with another user's token, no credential passthrough.
// Skipped until gateway/src/server.ts exists (the relay issue); the lead finishes the wiring.

import { existsSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { type OAuthClientProvider, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Exchange, Filter } from "../../src/chain/types.ts";
import { type AuthnFilter, createAuthnFilter, handleProtectedResourceMetadata } from "../../src/filters/authn/index.ts";
import { type Idp, startIdp } from "../fixtures/idp.ts";
import { authConfig } from "./helpers.ts";

const serverTs = fileURLToPath(new URL("../../src/server.ts", import.meta.url));
const gatewayAvailable = existsSync(serverTs);

// Headers every backend request carried: the proof that the caller's credentials never go upstream.
const seenByBackend: IncomingHttpHeaders[] = [];

async function startBackend(): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    seenByBackend.push(req.headers);
    const s = new McpServer({ name: "backend", version: "1.0.0" });
    s.registerTool("echo", { description: "echo" }, async () => ({ content: [{ type: "text", text: "ok" }] }));
    const t = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void t.close();
      void s.close();
    });
    await s.connect(t);
    await t.handleRequest(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

describe.skipIf(!gatewayAvailable)("OAuth end to end through the gateway", () => {
  let idp: Idp;
  let backend: { url: string; server: Server };
  let gw: { url: string; close(): Promise<void> };
  let authn: AuthnFilter | undefined;

  beforeAll(async () => {
    idp = await startIdp();
    backend = await startBackend();
    const { createGateway } = await import(serverTs);
    const { configSchema } = await import("../../src/config/schema.ts");
    const config = configSchema.parse({
      listen: { host: "127.0.0.1", port: 0 },
      sessions: { key: "k".repeat(32) },
      servers: { echo: { url: backend.url } },
    });
    // The resource URL contains the port, known only after listen: build the filter then (LEAD: with
    // config.publicBaseUrl set, construct it up front from config.auth instead).
    const auth = () => authConfig({ allowInsecureLoopback: true, issuers: [{ issuer: idp.issuer }], scopesSupported: ["mcp:tools"] });
    const lazyAuthn: Filter = { name: "authn", stage: "authn", onRequest: (ex: Exchange) => authn!.onRequest!(ex) };
    const prmHandler = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
      const r = handleProtectedResourceMetadata(req.method ?? "GET", (req.url ?? "/").split("?")[0]!, {
        auth: auth(),
        publicBaseUrl: g.url,
        routes: ["echo"],
      }) ?? { status: 404, headers: {}, body: "" };
      res.writeHead(r.status, r.headers).end(r.body);
    };
    const g = createGateway(config, {
      filters: [lazyAuthn],
      extraRoutes: [
        { path: "/.well-known/oauth-protected-resource", handle: prmHandler },
        { path: "/.well-known/oauth-protected-resource/", handle: prmHandler },
      ],
    });
    await g.listen();
    authn = createAuthnFilter({ publicBaseUrl: g.url, auth: auth() });
    gw = g;
  });
  afterAll(async () => {
    await gw?.close();
    await authn?.close();
    backend?.server.close();
    await idp?.close();
  });

  it("no token → 401 with resource_metadata; the PRM is served by the gateway", async () => {
    const r = await fetch(`${gw.url}/mcp/echo`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(r.status).toBe(401);
    const prm = /resource_metadata="([^"]+)"/.exec(r.headers.get("www-authenticate") ?? "")?.[1];
    expect(prm).toBe(`${gw.url}/.well-known/oauth-protected-resource/mcp/echo`);
    const doc = await (await fetch(prm!)).json();
    expect(doc).toMatchObject({ resource: `${gw.url}/mcp/echo`, authorization_servers: [idp.issuer] });
  });

  it("client_credentials with the SDK's ClientCredentialsProvider; backend never sees Authorization or cookies", async () => {
    seenByBackend.length = 0;
    const provider = new ClientCredentialsProvider({
      clientId: idp.clients.m2m.clientId,
      clientSecret: idp.clients.m2m.clientSecret,
      expectedIssuer: idp.issuer,
    });
    const client = new Client({ name: "e2e", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/echo`), {
      authProvider: provider,
      requestInit: { headers: { cookie: "session=caller-cookie" } },
    });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    expect((await client.callTool({ name: "echo", arguments: {} })).content).toEqual([{ type: "text", text: "ok" }]);
    await client.close();
    expect(seenByBackend.length).toBeGreaterThan(0);
    for (const h of seenByBackend) {
      expect(h.authorization).toBeUndefined();
      expect(h.cookie).toBeUndefined();
    }
  });

  it("authorization code + PKCE with the automatic test login", async () => {
    let authUrl: URL | undefined;
    let verifier = "";
    let tokens: OAuthTokens | undefined;
    const provider: OAuthClientProvider = {
      redirectUrl: idp.clients.public.redirectUri,
      clientMetadata: { redirect_uris: [idp.clients.public.redirectUri], token_endpoint_auth_method: "none" },
      clientInformation: () => ({ client_id: idp.clients.public.clientId }),
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
    const url = new URL(`${gw.url}/mcp/echo`);
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
    await expect(new Client({ name: "e2e", version: "1" }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
    await first.finishAuth((await idp.followAuthorization(authUrl!)).searchParams.get("code")!);
    const client = new Client({ name: "e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    expect((await client.callTool({ name: "echo", arguments: {} })).isError).toBeFalsy();
    await client.close();
  });

  it("a session id replayed with another user's token is an unknown session (404)", async () => {
    const resource = `${gw.url}/mcp/echo`;
    const alice = (await idp.authorizationCode({ account: "alice", resource, scope: "mcp:tools" })).access_token;
    const bob = (await idp.authorizationCode({ account: "bob", resource, scope: "mcp:tools" })).access_token;
    const post = (token: string, body: unknown, session?: string) =>
      fetch(resource, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-06-18",
          ...(session ? { "mcp-session-id": session } : {}),
        },
        body: JSON.stringify(body),
      });
    const init = await post(alice, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    expect(init.status).toBe(200);
    const sid = init.headers.get("mcp-session-id")!;
    await init.body?.cancel();
    const mine = await post(alice, { jsonrpc: "2.0", id: 2, method: "tools/list" }, sid);
    expect(mine.status).toBe(200);
    await mine.body?.cancel();
    const theirs = await post(bob, { jsonrpc: "2.0", id: 3, method: "tools/list" }, sid);
    expect(theirs.status).toBe(404);
    await theirs.body?.cancel();
  });

  it("token in the query string → 400 (needs Exchange.url from the listener)", async () => {
    const t = await idp.mintToken({ aud: `${gw.url}/mcp/echo` });
    const r = await fetch(`${gw.url}/mcp/echo?access_token=${t}`, {
      method: "POST",
      headers: { authorization: `Bearer ${t}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(r.status).toBe(400);
  });
});
