// Bad and unusual documents (not OpenAPI, broken $ref, cyclic schema, no name source, 64-character
// collisions), Swagger 2.0, style/explode serialisation, readOnly/writeOnly, selection, security, retries.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ADAPTER_ERRORS,
  AdapterError,
  buildRequest,
  buildToolsFromDocument,
  createOpenApiServer,
  type JsonObject,
  retryAfterMs,
  shorten,
} from "../src/index.ts";
import { examples, startRecordingApi } from "./helpers.ts";

type Obj = Record<string, unknown>;
type Text = { type: string; text: string }[];

function doc(paths: JsonObject, extra: JsonObject = {}): JsonObject {
  return { openapi: "3.0.3", info: { title: "t", version: "1" }, servers: [{ url: "http://127.0.0.1:9/api" }], paths, ...extra };
}
const ok = { responses: { "200": { description: "ok" } } };

async function refusal(d: string | JsonObject, options?: Obj): Promise<AdapterError> {
  try {
    await buildToolsFromDocument(d, options);
  } catch (e) {
    if (e instanceof AdapterError) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("bad documents give a clear error at start", () => {
  it("not OpenAPI: no version field, another version, not JSON/YAML, a missing file", async () => {
    expect((await refusal({ info: {}, paths: {} })).message).toBe(
      "OPENAPI_NOT_OPENAPI: document: no openapi field (OpenAPI 3.0, 3.1 or Swagger 2.0 expected)",
    );
    expect((await refusal({ openapi: "4.0.0", paths: {} })).code).toBe("OPENAPI_NOT_OPENAPI");
    const f = join(tmpdir(), `not-openapi-${process.pid}.yaml`);
    writeFileSync(f, "openapi: [unclosed\n");
    expect((await refusal(f)).code).toBe("OPENAPI_LOAD_FAILED");
    expect((await refusal(join(tmpdir(), "no-such-file.json"))).message).toMatch(/^OPENAPI_LOAD_FAILED: .*ENOENT/);
  });

  it("a document that breaks the specification is refused with the validator's findings", async () => {
    const e = await refusal({ openapi: "3.0.3", info: { title: "t" }, paths: { "/a": { get: { responses: "nope" } } } } as JsonObject);
    expect(e.code).toBe("OPENAPI_INVALID");
  });

  it("a broken $ref names the operation and the reference (also with document validation off)", async () => {
    const d = doc({
      "/pets": {
        get: {
          responses: { "200": { description: "ok", content: { "application/json": { schema: { $ref: "#/components/schemas/Nope" } } } } },
        },
      },
    });
    expect((await refusal(d)).code).toBe("OPENAPI_BROKEN_REF");
    const e = await refusal(d, { validateDocument: false });
    expect(e.message).toBe('OPENAPI_BROKEN_REF: GET /pets response 200: $ref "#/components/schemas/Nope" points at nothing');
  });

  it("a cyclic schema is expanded to the bound, noted, and survives JSON", async () => {
    const built = await buildToolsFromDocument(join(examples, "3.0/json/circular.json"));
    for (const t of built.tools) {
      const text = JSON.stringify([t.inputSchema, t.outputSchema]);
      expect(text.length).toBeLessThan(200_000);
    }
    const self = doc(
      { "/n": { post: { requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/Node" } } } }, ...ok } } },
      {
        components: {
          schemas: {
            Node: {
              type: "object",
              properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#/components/schemas/Node" } } },
            },
          },
        },
      },
    );
    const t = (await buildToolsFromDocument(self)).tools[0]!;
    const body = (t.inputSchema.properties as Obj).body as Obj;
    expect(((body.properties as Obj).children as Obj).items).toEqual({
      description: "(recursive reference to Node, not expanded further)",
    });
  });

  it("no name source: with names: operationId, an operation without one is skipped and reported", async () => {
    const d = doc({ "/a": { get: { operationId: "getA", ...ok }, post: ok } });
    const built = await buildToolsFromDocument(d, { names: "operationId" });
    expect(built.tools.map((t) => t.name)).toEqual(["getA"]);
    expect(built.skipped).toEqual([
      { method: "POST", path: "/a", operationId: undefined, reason: "no name source (names: operationId, no operationId)" },
    ]);
    // Default: method and path stand in; an operationId of only disallowed characters falls back too.
    const dflt = await buildToolsFromDocument(doc({ "/a/b": { post: ok, get: { operationId: "日本", ...ok } } }));
    expect(dflt.tools.map((t) => t.name).sort()).toEqual(["get_a_b", "post_a_b"]);
  });

  it("64-character names: long ids sharing 64 characters get distinct, stable names; a true collision is refused", async () => {
    const long = "x".repeat(70);
    const d = doc({ "/a": { get: { operationId: `${long}-one`, ...ok } }, "/b": { get: { operationId: `${long}-two`, ...ok } } });
    const names = (await buildToolsFromDocument(d)).tools.map((t) => t.name);
    expect(names[0]).toHaveLength(64);
    expect(names[0]).not.toBe(names[1]);
    expect(names[0]).toBe(shorten(`${long}-one`));
    expect((await buildToolsFromDocument(d)).tools.map((t) => t.name)).toEqual(names);
    const clash = doc({ "/a": { get: { operationId: "list/pets", ...ok } }, "/b": { get: { operationId: "list_pets", ...ok } } });
    const e = await refusal(clash);
    expect(e.message).toBe(
      'OPENAPI_NAME_COLLISION: "list_pets" is the tool name of both GET /a (list/pets) and GET /b (list_pets); set toolNames for one of them',
    );
    const fixed = await buildToolsFromDocument(clash, { toolNames: { "list/pets": "list_all_pets" } });
    expect(fixed.tools.map((t) => t.name)).toEqual(["list_all_pets", "list_pets"]);
  });

  it("a schema ajv cannot compile (a pattern that is no ECMAScript regex) fails that tool's calls, not the start", async () => {
    const d = doc({ "/a": { get: { parameters: [{ name: "q", in: "query", schema: { type: "string", pattern: "[" } }], ...ok } } });
    const s = await createOpenApiServer({ document: d, options: { baseUrl: "http://127.0.0.1:9" } });
    const r = await s.call("get_a", { q: "x" });
    expect((r.content as Text)[0]!.text).toMatch(/^SCHEMA_UNCOMPILABLE: get_a: /);
    await s.close();
  });

  it("a selection that leaves nothing, and a bad option, are refused", async () => {
    expect((await refusal(doc({ "/a": { post: ok } }), { readOnly: true })).code).toBe("OPENAPI_NO_TOOLS");
    expect((await refusal(doc({ "/a": { get: ok } }), { retries: -1 })).message).toMatch(/^OPENAPI_BAD_OPTIONS: retries: /);
  });
});

describe("documents of every version", () => {
  it("every example document of @readme/oas-examples (2.0, 3.0, 3.1) builds, or is refused with a documented code", async () => {
    const { readdirSync } = await import("node:fs");
    const outcomes: Record<string, string> = {};
    for (const v of ["2.0", "3.0", "3.1"]) {
      for (const f of readdirSync(join(examples, v, "json")).filter((n) => n.endsWith(".json"))) {
        try {
          const b = await buildToolsFromDocument(join(examples, v, "json", f), { baseUrl: "http://127.0.0.1:9" });
          for (const t of b.tools) expect(() => JSON.stringify(t.inputSchema)).not.toThrow();
          outcomes[`${v}/${f}`] = "ok";
        } catch (e) {
          expect(e).toBeInstanceOf(AdapterError);
          outcomes[`${v}/${f}`] = (e as AdapterError).code;
        }
      }
    }
    const refused = Object.entries(outcomes).filter(([, o]) => o !== "ok");
    // Webhook-only documents have no operation to offer; nothing else is refused.
    expect(refused).toEqual([["3.1/webhooks.json", "OPENAPI_NO_TOOLS"]]);
  });

  it("Swagger 2.0 is upgraded (petstore): tools, body and base URL", async () => {
    const built = await buildToolsFromDocument(join(examples, "2.0/json/petstore.json"));
    expect(built.loaded.sourceVersion).toBe("2.0");
    const add = built.tools.find((t) => t.name === "addPet")!;
    expect(add.plan.body?.mediaType).toBe("application/json");
    // schemes: [http, https] → the first, as the upgrade writes it.
    expect(built.baseUrl).toBe("http://petstore.swagger.io/v2");
  });

  it("readOnly properties are not inputs, writeOnly ones are not outputs", async () => {
    const d = doc(
      {
        "/u": {
          post: {
            requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/U" } } } },
            responses: { "200": { description: "ok", content: { "application/json": { schema: { $ref: "#/components/schemas/U" } } } } },
          },
        },
      },
      {
        components: {
          schemas: {
            U: {
              type: "object",
              required: ["id", "password"],
              properties: {
                id: { type: "integer", readOnly: true },
                password: { type: "string", writeOnly: true },
                name: { type: "string", nullable: true },
              },
            },
          },
        },
      },
    );
    const t = (await buildToolsFromDocument(d, { outputSchemas: "declared" })).tools[0]!;
    const body = (t.inputSchema.properties as Obj).body as Obj;
    expect(body).toEqual({
      type: "object",
      required: ["password"],
      properties: { password: { type: "string", writeOnly: true }, name: { type: ["string", "null"] } },
    });
    expect(t.outputSchema).toEqual({
      type: "object",
      required: ["id"],
      properties: { id: { type: "integer", readOnly: true }, name: { type: ["string", "null"] } },
    });
  });

  it("annotations follow the method and can be overridden; descriptions are trimmed to maxDescription", async () => {
    const d = doc({
      "/a": {
        get: { operationId: "read", description: "x".repeat(300), ...ok },
        post: { operationId: "search", "x-mcp-annotations": { readOnlyHint: true }, ...ok },
        delete: { operationId: "remove", ...ok },
        put: { operationId: "replace", ...ok },
      },
    });
    const b = await buildToolsFromDocument(d, {
      maxDescription: 100,
      annotations: { remove: { destructiveHint: false }, "PUT /a": { idempotentHint: false } },
    });
    const by = Object.fromEntries(b.tools.map((t) => [t.name, t]));
    expect(by.read!.annotations).toEqual({ readOnlyHint: true, openWorldHint: true });
    expect(by.search!.annotations.readOnlyHint).toBe(true);
    expect(by.remove!.annotations).toMatchObject({ destructiveHint: false, idempotentHint: true });
    expect(by.replace!.annotations.idempotentHint).toBe(false);
    expect(by.read!.description).toHaveLength(100);
    expect(by.read!.description!.endsWith("…")).toBe(true);
  });

  it("selection by tag, operationId, path glob and method; read-only mode keeps safe methods", async () => {
    const spec = join(examples, "3.0/json/petstore.json");
    const names = async (o: Obj) => (await buildToolsFromDocument(spec, o)).tools.map((t) => t.name).sort();
    expect(await names({ include: { tags: ["store"] } })).toEqual(["deleteOrder", "getInventory", "getOrderById", "placeOrder"]);
    expect(await names({ include: { paths: ["/pet/**"], methods: ["get"] } })).toEqual([
      "findPetsByStatus",
      "findPetsByTags",
      "getPetById",
    ]);
    expect(await names({ include: { tags: ["user"] }, exclude: { operationIds: ["loginUser", "logoutUser"] }, readOnly: true })).toEqual([
      "getUserByName",
    ]);
  });
});

describe("requests are built as the parameters' style and explode say", () => {
  const creds = { headers: {}, query: [] as [string, string][], cookies: [] as [string, string][] };
  const plan = (params: Obj[]) =>
    ({
      method: "GET",
      path: "/p/{id}",
      params: params.map((p) => ({ allowReserved: false, contentType: undefined, required: false, arg: p.name, ...p })),
      body: undefined,
      security: { alternatives: [], optional: true, apiKeyParams: new Set() },
      wrapOutput: false,
      accept: "application/json",
    }) as never;
  const url = (params: Obj[], args: Obj) => buildRequest("http://h", plan(params), args, creds).url;

  it("path: simple, label and matrix, exploded or not (OpenAPI 3.x style examples)", () => {
    const p = (style: string, explode: boolean) => [{ name: "id", in: "path", style, explode }];
    expect(url(p("simple", false), { id: [3, 4, 5] })).toBe("http://h/p/3,4,5");
    expect(url(p("simple", true), { id: { role: "admin", firstName: "Alex" } })).toBe("http://h/p/role=admin,firstName=Alex");
    expect(url(p("simple", false), { id: { role: "admin", firstName: "Alex" } })).toBe("http://h/p/role,admin,firstName,Alex");
    expect(url(p("label", false), { id: [3, 4, 5] })).toBe("http://h/p/.3,4,5");
    expect(url(p("label", true), { id: [3, 4, 5] })).toBe("http://h/p/.3.4.5");
    expect(url(p("matrix", false), { id: [3, 4, 5] })).toBe("http://h/p/;id=3,4,5");
    expect(url(p("matrix", true), { id: [3, 4, 5] })).toBe("http://h/p/;id=3;id=4;id=5");
    expect(url(p("matrix", true), { id: { role: "admin" } })).toBe("http://h/p/;role=admin");
    expect(url(p("simple", false), { id: "a/b c" })).toBe("http://h/p/a%2Fb%20c");
  });

  it("query: form, spaceDelimited, pipeDelimited, deepObject; allowReserved", () => {
    const q = (style: string, explode: boolean, extra: Obj = {}) => [
      { name: "id", in: "path", style: "simple", explode: false },
      { name: "c", in: "query", style, explode, ...extra },
    ];
    expect(url(q("form", true), { id: 1, c: ["blue", "black"] })).toBe("http://h/p/1?c=blue&c=black");
    expect(url(q("form", false), { id: 1, c: ["blue", "black"] })).toBe("http://h/p/1?c=blue,black");
    expect(url(q("form", true), { id: 1, c: { R: 100, G: 200 } })).toBe("http://h/p/1?R=100&G=200");
    expect(url(q("spaceDelimited", false), { id: 1, c: ["blue", "black"] })).toBe("http://h/p/1?c=blue%20black");
    expect(url(q("pipeDelimited", false), { id: 1, c: ["blue", "black"] })).toBe("http://h/p/1?c=blue|black");
    expect(url(q("deepObject", true), { id: 1, c: { R: 100, G: 200 } })).toBe("http://h/p/1?c%5BR%5D=100&c%5BG%5D=200");
    expect(url(q("form", true, { allowReserved: true }), { id: 1, c: "a/b?c" })).toBe("http://h/p/1?c=a/b?c");
    expect(url(q("form", true), { id: 1, c: "a/b?c" })).toBe("http://h/p/1?c=a%2Fb%3Fc");
  });

  it("the parameters-style example document builds the same tools for 3.0 and 3.1", async () => {
    const a = await buildToolsFromDocument(join(examples, "3.0/json/parameters-style.json"));
    const b = await buildToolsFromDocument(join(examples, "3.1/json/parameters-style.json"));
    expect(a.tools.map((t) => t.name)).toEqual(b.tools.map((t) => t.name));
    expect(a.tools.length).toBeGreaterThan(10);
  });
});

describe("sources and bodies", () => {
  it("a document from a URL (relative servers resolved against it) and one with external $refs (bundled)", async () => {
    const api = await startRecordingApi();
    const served = doc({ "/pets": { get: { operationId: "listPets", ...ok } } }, { servers: [{ url: "/v1" }] });
    api.respond = (_r, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(served));
    const fromUrl = await buildToolsFromDocument(`${api.url}/openapi.json`);
    expect(fromUrl.baseUrl).toBe(`${api.url}/v1`);
    api.respond = (_r, res) => res.writeHead(404).end();
    expect((await refusal(`${api.url}/missing.json`)).message).toBe(`OPENAPI_LOAD_FAILED: ${api.url}/missing.json: HTTP 404`);
    await api.close();

    const d = mkdtempSync(join(tmpdir(), "openapi-ext-"));
    writeFileSync(join(d, "pet.yaml"), "type: object\nrequired: [name]\nproperties:\n  name: { type: string }\n");
    writeFileSync(
      join(d, "main.yaml"),
      [
        "openapi: 3.0.3",
        "info: { title: ext, version: '1' }",
        "servers: [{ url: 'http://127.0.0.1:9' }]",
        "paths:",
        "  /pets:",
        "    post:",
        "      operationId: addPet",
        "      requestBody: { required: true, content: { application/json: { schema: { $ref: './pet.yaml' } } } }",
        "      responses: { '201': { description: created } }",
      ].join("\n"),
    );
    const ext = await buildToolsFromDocument(join(d, "main.yaml"));
    expect((ext.tools[0]!.inputSchema.properties as Obj).body).toEqual({
      type: "object",
      required: ["name"],
      properties: { name: { type: "string" } },
    });
    writeFileSync(join(d, "broken.yaml"), readFileSync(join(d, "main.yaml"), "utf8").replace("./pet.yaml", "./nope.yaml"));
    expect((await refusal(join(d, "broken.yaml"))).code).toBe("OPENAPI_BROKEN_REF");
    rmSync(d, { recursive: true, force: true });
  });

  it("header and cookie parameters, form and multipart bodies are sent as described", async () => {
    const api = await startRecordingApi();
    const d = doc({
      "/up/{id}": {
        post: {
          operationId: "upload",
          parameters: [
            { name: "id", in: "path", required: true, schema: { type: "integer" } },
            { name: "X-Trace-Tags", in: "header", schema: { type: "array", items: { type: "string" } } },
            { name: "session", in: "cookie", schema: { type: "string" } },
            { name: "Accept", in: "header", schema: { type: "string" } },
          ],
          requestBody: {
            content: {
              "multipart/form-data": {
                schema: { type: "object", properties: { note: { type: "string" }, meta: { type: "object" } } },
              },
            },
          },
          ...ok,
        },
      },
    });
    const s = await createOpenApiServer({ document: d, options: { baseUrl: api.url } });
    expect(Object.keys(s.tools[0]!.inputSchema.properties as Obj)).toEqual(["id", "X-Trace-Tags", "session", "body"]);
    const r = await s.call("upload", { id: 3, "X-Trace-Tags": ["a", "b"], session: "s 1", body: { note: "hi", meta: { k: 1 } } });
    expect(r.isError).toBeFalsy();
    const sent = api.requests[0]!;
    expect(sent.url).toBe("/up/3");
    expect(sent.headers["x-trace-tags"]).toBe("a,b");
    expect(sent.headers.cookie).toBe("session=s%201");
    const boundary = /boundary=(.+)$/.exec(String(sent.headers["content-type"]))![1]!;
    expect(sent.body).toBe(
      `--${boundary}\r\ncontent-disposition: form-data; name="note"\r\n\r\nhi\r\n` +
        `--${boundary}\r\ncontent-disposition: form-data; name="meta"\r\ncontent-type: application/json\r\n\r\n{"k":1}\r\n--${boundary}--\r\n`,
    );
    await s.close();
    await api.close();
  });
});

describe("credentials and failures", () => {
  it("an apiKey declared also as a parameter is not an argument; a query key without a source is reported", async () => {
    const d = doc(
      {
        "/a": {
          get: {
            parameters: [
              { name: "api_key", in: "header", schema: { type: "string" } },
              { name: "q", in: "query", schema: { type: "string" } },
            ],
            ...ok,
          },
        },
      },
      {
        security: [{ hdr: [] }, { qry: [] }],
        components: {
          securitySchemes: { hdr: { type: "apiKey", in: "header", name: "api_key" }, qry: { type: "apiKey", in: "query", name: "key" } },
        },
      },
    );
    const s = await createOpenApiServer({ document: d });
    expect(Object.keys(s.tools[0]!.inputSchema.properties as Obj)).toEqual(["q"]);
    expect(s.unsatisfied).toEqual(["qry"]);
    await s.close();
    await expect(createOpenApiServer({ document: d, options: { strictSecurity: true } })).rejects.toThrow(
      "OPENAPI_SECURITY_UNSATISFIED: qry (apiKey, 1 operations)",
    );
    // Configured from the environment (stdio behind the gateway): the key goes where the scheme says.
    const api = await startRecordingApi();
    const env = await createOpenApiServer({
      document: d,
      options: { baseUrl: api.url, security: { qry: { fromEnv: "THE_KEY" } } },
      env: { THE_KEY: "k&1" },
    });
    const r = await env.call("get_a", { q: "x" });
    expect(r.isError).toBeFalsy();
    expect(api.requests[0]!.url).toBe("/a?q=x&key=k%261");
    // The header scheme comes first when the gateway injected its header.
    await env.call("get_a", {}, { api_key: "h-1" });
    expect(api.requests[1]!.headers.api_key).toBe("h-1");
    expect(api.requests[1]!.url).toBe("/a");
    await env.close();
    await api.close();
  });

  it("idempotent operations retry 5xx honouring Retry-After; POST does not; 5xx ends as isError", async () => {
    const api = await startRecordingApi();
    const d = doc({ "/a": { get: ok, post: ok } });
    const s = await createOpenApiServer({ document: d, options: { baseUrl: api.url, retries: 2 } });
    let n = 0;
    api.respond = (_r, res) => {
      n++;
      if (n === 1) res.writeHead(503, { "retry-after": "1" }).end("busy");
      else res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    };
    const t0 = Date.now();
    const r = await s.call("get_a", {});
    expect(r.isError).toBeFalsy();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(api.requests).toHaveLength(2);
    api.respond = (_r, res) => res.writeHead(502).end("bad gateway");
    const p = await s.call("post_a", {});
    expect(api.requests).toHaveLength(3);
    expect((p.content as Text)[0]!.text).toBe("HTTP_SERVER_ERROR: POST /a answered 502: bad gateway");
    // A Retry-After longer than maxRetryAfterMs ends the retries at once.
    api.respond = (_r, res) => res.writeHead(503, { "retry-after": "3600" }).end();
    await s.call("get_a", {});
    expect(api.requests).toHaveLength(4);
    await s.close();
    await api.close();
    expect(retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("Wed, 21 Oct 2015 07:27:58 GMT"))).toBe(2000);
  });

  it("non-JSON answers: text as text, images as image content, anything else as an embedded resource", async () => {
    const api = await startRecordingApi();
    const s = await createOpenApiServer({ document: doc({ "/f": { get: ok } }), options: { baseUrl: api.url } });
    api.respond = (_r, res) => res.writeHead(200, { "content-type": "image/png" }).end(Buffer.from([137, 80, 78, 71]));
    expect((await s.call("get_f", {})).content).toEqual([{ type: "image", data: "iVBORw==", mimeType: "image/png" }]);
    api.respond = (_r, res) => res.writeHead(200, { "content-type": "application/pdf" }).end(Buffer.from("%PDF-1.7"));
    expect((await s.call("get_f", {})).content).toEqual([
      {
        type: "resource",
        resource: { uri: `${api.url}/f`, mimeType: "application/pdf", blob: Buffer.from("%PDF-1.7").toString("base64") },
      },
    ]);
    api.respond = (_r, res) => res.writeHead(200, { "content-type": "text/csv" }).end("a,b\n1,2\n");
    expect((await s.call("get_f", {})).content).toEqual([{ type: "text", text: "a,b\n1,2\n" }]);
    await s.close();
    await api.close();
  });

  it("timeouts and unreachable APIs are isError results; large answers are truncated with a note", async () => {
    const api = await startRecordingApi();
    const d = doc({ "/a": { get: ok } });
    const s = await createOpenApiServer({ document: d, options: { baseUrl: api.url, retries: 0, timeoutMs: 200, maxResponseBytes: 1024 } });
    api.respond = () => {};
    expect(((await s.call("get_a", {})).content as Text)[0]!.text).toBe("TIMEOUT: GET /a: no answer within 200 ms");
    api.respond = (_r, res) => res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(5000));
    const big = await s.call("get_a", {});
    expect((big.content as Text)[0]!.text).toBe(`${"x".repeat(1024)}\n[truncated: the answer is larger than 1024 bytes]`);
    await s.close();
    await api.close();
    const gone = await createOpenApiServer({ document: d, options: { baseUrl: "http://127.0.0.1:1", retries: 0 } });
    expect(((await gone.call("get_a", {})).content as Text)[0]!.text).toBe("CONNECTION_FAILED: GET /a: ECONNREFUSED");
    await gone.close();
  });
});

describe("documentation", () => {
  it("README's error table lists exactly the adapter's error codes", () => {
    const readme = readFileSync(join(import.meta.dirname, "../README.md"), "utf8");
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ADAPTER_ERRORS).sort());
  });
});
