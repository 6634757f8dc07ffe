// The OpenAPI adapter as a gateway backend (route rest-bridge of the default policy): the Train Travel API on
// Prism, reached by an MCP agent and by a REST client through the bridge, with the backend token injected by the
// gateway — the adapter holds no secret and never sees a caller's token. Real IdP tokens, real OPA bundle.

import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Agent, type Dispatcher } from "undici";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  account,
  idpAccounts,
  issuerYaml,
  type StartedGateway,
  startFromYaml,
  userToken,
} from "../../../gateway/test/acceptance/fixtures.ts";
import { type Idp, startIdp } from "../../../gateway/test/fixtures/idp.ts";
import { createOpenApiServer, type OpenApiServer } from "../src/index.ts";
import { examples, type Prism, startPrism } from "./helpers.ts";

const BACKEND_TOKEN = "train-travel-backend-token-7";
const SESSION_KEY = "openapi-through-gateway-key-0123456789abcdef";
let prism: Prism;
let adapter: OpenApiServer;
let idp: Idp;
let gw: StartedGateway;
let developer: string;
let desk: string;
const sent: { path: string; headers: Record<string, string>; body: string | undefined }[] = [];

function recording(): Dispatcher {
  return new Agent().compose((dispatch) => (opts, handler) => {
    sent.push({
      path: opts.path,
      headers: { ...(opts.headers as Record<string, string>) },
      body: typeof opts.body === "string" ? opts.body : undefined,
    });
    return dispatch(opts, handler);
  });
}

beforeAll(async () => {
  const spec = join(examples, "3.1/json/train-travel.json");
  [prism, idp] = await Promise.all([startPrism(spec), startIdp({ accounts: idpAccounts() })]);
  adapter = await createOpenApiServer({ document: spec, options: { baseUrl: prism.url }, dispatcher: recording() });
  const adapterUrl = await adapter.listen();
  const yaml = `
listen: { host: 127.0.0.1, port: 0 }
sessions:
  key: \${env:SESSION_KEY}
auth:${issuerYaml(idp)}
authz:
  engine: { type: wasm, watch: false }
restBridge: { enabled: true }
servers:
  rest-bridge:
    url: ${adapterUrl}
    credentials:
      from: { env: { token: TT_TOKEN } }
      inject: { headers: { Authorization: "Bearer {token}" } }
      required: true
`;
  gw = await startFromYaml(yaml, { baseDir: process.cwd(), env: { SESSION_KEY, TT_TOKEN: BACKEND_TOKEN } });
  developer = await userToken(idp, account("developers", true), gw.url);
  desk = await userToken(idp, account("service-desk", true), gw.url);
}, 120_000);

afterAll(async () => {
  await gw?.close();
  await adapter?.close();
  await Promise.all([prism?.close(), idp?.close()]);
});

it("an MCP agent calls the API through gateway and adapter; the API sees the injected token, never the caller's", async () => {
  sent.length = 0;
  const client = new Client({ name: "agent", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/rest-bridge`), {
      requestInit: { headers: { authorization: `Bearer ${developer}` } },
    }),
  );
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toContain("get-stations");
  const r = await client.callTool({ name: "get-stations", arguments: {} });
  expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  expect(sent).toHaveLength(1);
  expect(sent[0]!.path).toBe("/stations");
  expect(sent[0]!.headers.authorization).toBe(`Bearer ${BACKEND_TOKEN}`);
  expect(JSON.stringify(sent)).not.toContain(developer);
  await client.close();
});

it("a REST client books through the bridge: JSON body as described, structured answer; another group is refused", async () => {
  sent.length = 0;
  const booking = { trip_id: "4f4e4e1c-c824-4d63-b37a-d8d698862f1d", passenger_name: "Ada Lovelace", has_bicycle: true, has_dog: false };
  const r = await fetch(`${gw.url}/api/v1/mcp/rest-bridge/tools/create-booking`, {
    method: "POST",
    headers: { authorization: `Bearer ${developer}`, "content-type": "application/json" },
    body: JSON.stringify({ arguments: { body: booking } }),
  });
  expect(r.status).toBe(200);
  const answer = (await r.json()) as Record<string, unknown>;
  expect(typeof answer.passenger_name).toBe("string");
  expect(sent).toHaveLength(1);
  expect(JSON.parse(sent[0]!.body!)).toEqual(booking);
  expect(sent[0]!.headers.authorization).toBe(`Bearer ${BACKEND_TOKEN}`);

  const refused = await fetch(`${gw.url}/api/v1/mcp/rest-bridge/tools/create-booking`, {
    method: "POST",
    headers: { authorization: `Bearer ${desk}`, "content-type": "application/json" },
    body: JSON.stringify({ arguments: { body: booking } }),
  });
  expect(refused.status).toBe(403);
  expect(((await refused.json()) as { code: string }).code).toBe("AUTHZ_DENIED");
  expect(sent).toHaveLength(1);
});
