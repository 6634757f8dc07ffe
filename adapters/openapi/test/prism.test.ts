// Two real public descriptions — the USPTO Data Set API (OpenAPI 3.0) and the Train Travel API (3.1) — served
// by the Prism mock server, called through the adapter over Streamable HTTP by the MCP SDK client.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { Agent, type Dispatcher } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenApiServer, type OpenApiServer } from "../src/index.ts";
import { examples, type Prism, startPrism } from "./helpers.ts";

type Obj = Record<string, unknown>;
type Text = { type: string; text: string }[];

interface Sent {
  method: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** An undici dispatcher that records what the adapter sends, then sends it. */
function recordingDispatcher(sent: Sent[]): Dispatcher {
  return new Agent().compose((dispatch) => (opts, handler) => {
    sent.push({
      method: opts.method,
      origin: String(opts.origin),
      path: opts.path,
      headers: { ...(opts.headers as Record<string, string>) },
      body: typeof opts.body === "string" ? opts.body : Buffer.isBuffer(opts.body) ? opts.body.toString("utf8") : undefined,
    });
    return dispatch(opts, handler);
  });
}

async function httpClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: "prism-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

describe("USPTO Data Set API (OpenAPI 3.0) against Prism", () => {
  const spec = join(examples, "3.0/json/uspto.json");
  let prism: Prism;
  let server: OpenApiServer;
  let client: Client;
  let mcpUrl: string;
  const sent: Sent[] = [];

  beforeAll(async () => {
    prism = await startPrism(spec);
    server = await createOpenApiServer({ document: spec, options: { baseUrl: prism.url }, dispatcher: recordingDispatcher(sent) });
    mcpUrl = await server.listen();
    client = await httpClient(mcpUrl);
  }, 90_000);
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await prism?.close();
  });

  it("lists the three operations with annotations from their methods", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["list-data-sets", "list-searchable-fields", "perform-search"]);
    expect(tools.find((t) => t.name === "list-data-sets")!.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === "perform-search")!.annotations).toMatchObject({ readOnlyHint: false, idempotentHint: false });
  });

  it("GET /{dataset}/{version}/fields: path parameters; Prism validates the request and answers", async () => {
    sent.length = 0;
    const r = await client.callTool({ name: "list-searchable-fields", arguments: { dataset: "oa_citations", version: "v1" } });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    expect(sent[0]).toMatchObject({ method: "GET", path: "/oa_citations/v1/fields" });
    expect((r.content as Text)[0]!.text.length).toBeGreaterThan(0);
  });

  it("POST /{dataset}/{version}/records: a form-urlencoded body, checked here against the description", async () => {
    sent.length = 0;
    const r = await client.callTool({
      name: "perform-search",
      arguments: { dataset: "oa_citations", version: "v1", body: { criteria: "patentNumber:7654321", start: 0, rows: 10 } },
    });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const s = sent[0]!;
    expect(s).toMatchObject({ method: "POST", path: "/oa_citations/v1/records" });
    expect(s.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(s.body).toBe("criteria=patentNumber%3A7654321&start=0&rows=10");
    const form = Object.fromEntries(new URLSearchParams(s.body));
    expect(form).toEqual({ criteria: "patentNumber:7654321", start: "0", rows: "10" });
    // Prism answers the declared 200 (an array of objects) → structuredContent { result: [...] }.
    expect(Array.isArray((r.structuredContent as Obj).result)).toBe(true);
  });

  it("a Host that is not the loopback listener's own is refused (DNS rebinding)", async () => {
    const { request } = await import("undici");
    const r = await request(mcpUrl, {
      method: "POST",
      headers: { host: "attacker.example", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(r.statusCode).toBe(403);
    await r.body.dump();
  });

  it("a missing required argument is refused before anything is sent", async () => {
    sent.length = 0;
    const r = await client.callTool({ name: "perform-search", arguments: { dataset: "oa_citations", version: "v1", body: {} } });
    expect(r.isError).toBe(true);
    expect((r.content as Text)[0]!.text).toBe("INVALID_ARGUMENTS: /body must have required property 'criteria'");
    expect(sent).toHaveLength(0);
  });
});

describe("Train Travel API (OpenAPI 3.1, OAuth2) against Prism", () => {
  const spec = join(examples, "3.1/json/train-travel.json");
  const doc = JSON.parse(readFileSync(spec, "utf8")) as Obj;
  let prism: Prism;
  let server: OpenApiServer;
  let client: Client;
  let anonymous: Client;
  const sent: Sent[] = [];

  beforeAll(async () => {
    prism = await startPrism(spec);
    server = await createOpenApiServer({ document: spec, options: { baseUrl: prism.url }, dispatcher: recordingDispatcher(sent) });
    const url = await server.listen();
    // The gateway injects the backend credential as a header on the MCP request; the adapter forwards it per scheme.
    client = await httpClient(url, { authorization: "Bearer backend-token-1" });
    anonymous = await httpClient(url);
  }, 90_000);
  afterAll(async () => {
    await client?.close();
    await anonymous?.close();
    await server?.close();
    await prism?.close();
  });

  it("reports the OAuth2 scheme as satisfied by the injected Authorization header; no credential is an argument", async () => {
    expect(server.security).toEqual([{ scheme: "OAuth2", type: "oauth2", satisfiedBy: "header authorization", operations: 7 }]);
    const { tools } = await client.listTools();
    for (const t of tools) expect(Object.keys(t.inputSchema.properties ?? {})).not.toContain("authorization");
    // Booking.id is readOnly: not an input of create-booking.
    const create = tools.find((t) => t.name === "create-booking")!;
    const body = (create.inputSchema.properties as Obj).body as Obj;
    expect(Object.keys(body.properties as Obj).sort()).toEqual(["has_bicycle", "has_dog", "passenger_name", "trip_id"]);
    expect(create.annotations).toMatchObject({ readOnlyHint: false });
    expect(tools.find((t) => t.name === "delete-booking")!.annotations).toMatchObject({ destructiveHint: true, idempotentHint: true });
  });

  it("GET /trips: required query parameters, boolean and date-time; answer as structuredContent", async () => {
    sent.length = 0;
    const args = {
      origin: "efdbb9d1-02c2-4bc3-afb7-6788d8782b1e",
      destination: "b2e783e1-c824-4d63-b37a-d8d698862f1d",
      date: "2024-02-01T09:00:00Z",
      bicycles: true,
    };
    const r = await client.callTool({ name: "get-trips", arguments: args });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const s = sent[0]!;
    expect(s.path).toBe(
      "/trips?origin=efdbb9d1-02c2-4bc3-afb7-6788d8782b1e&destination=b2e783e1-c824-4d63-b37a-d8d698862f1d&date=2024-02-01T09%3A00%3A00Z&bicycles=true",
    );
    expect(s.headers.authorization).toBe("Bearer backend-token-1");
    expect(Array.isArray((r.structuredContent as Obj).data), JSON.stringify(r.structuredContent).slice(0, 300)).toBe(true);
  });

  it("POST /bookings: the JSON body matches the description's Booking schema (checked here, not only by Prism)", async () => {
    sent.length = 0;
    const booking = { trip_id: "4f4e4e1c-c824-4d63-b37a-d8d698862f1d", passenger_name: "John Doe", has_bicycle: false, has_dog: true };
    const r = await client.callTool({ name: "create-booking", arguments: { body: booking } });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const s = sent[0]!;
    expect(s).toMatchObject({ method: "POST", path: "/bookings" });
    expect(s.headers["content-type"]).toBe("application/json");
    const sentBody = JSON.parse(s.body!);
    expect(sentBody).toEqual(booking);
    const ajv = new Ajv2020({ strict: false, logger: false });
    (addFormats as unknown as (a: Ajv2020) => void)(ajv);
    ajv.addSchema({ $id: "tt", components: doc.components } as Obj, "tt");
    expect(ajv.validate({ $ref: "tt#/components/schemas/Booking" }, sentBody), JSON.stringify(ajv.errors)).toBe(true);
    expect((r.structuredContent as Obj).passenger_name).toBeTypeOf("string");
  });

  it("without an injected credential the call is refused by the adapter, and nothing reaches the API", async () => {
    sent.length = 0;
    const r = await anonymous.callTool({ name: "get-stations", arguments: {} });
    expect(r.isError).toBe(true);
    expect((r.content as Text)[0]!.text).toBe("CREDENTIALS_MISSING: GET /stations needs OAuth2");
    expect(sent).toHaveLength(0);
  });
});
