// The bridge's OpenAPI 3.1 document, generated per caller from the tools, prompts and resources that caller
// may see on each route (the same filtered lists MCP returns), so REST clients can generate a client from it.

import type { Tool } from "@modelcontextprotocol/sdk/types.js";

export interface RouteListing {
  readonly route: string;
  readonly tools: readonly Tool[];
  readonly prompts: boolean;
  readonly resources: boolean;
}

/** operationIds are identifiers in generated clients: letters, digits and `_` only. */
export function operationId(...parts: string[]): string {
  return parts
    .join("_")
    .replace(/[^A-Za-z0-9_]+/g, "_")
    .replace(/_{2,}/g, "_");
}

const problem = { $ref: "#/components/schemas/Problem" };
const problemResponse = (description: string) => ({ description, content: { "application/problem+json": { schema: problem } } });
const errors = {
  "400": problemResponse("Malformed request or arguments that do not match the input schema"),
  "401": problemResponse("Missing, invalid or expired token (WWW-Authenticate carries the challenge)"),
  "403": problemResponse("Not authorized"),
  "404": problemResponse("Unknown server, tool, prompt or resource"),
  "502": problemResponse("The backend failed"),
  "503": problemResponse("A dependency (IdP, policy engine, secret store) is unavailable"),
  "504": problemResponse("The backend did not answer in time"),
};

export function bridgeOpenApi(base: string, version: string, listings: readonly RouteListing[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const l of listings) {
    const r = encodeURIComponent(l.route);
    paths[`/api/v1/mcp/${r}/tools`] = {
      get: {
        operationId: operationId("list_tools", l.route),
        tags: [l.route],
        summary: `Tools of ${l.route} this caller may call`,
        responses: {
          "200": { description: "The tools", content: { "application/json": { schema: { $ref: "#/components/schemas/ToolList" } } } },
          ...errors,
        },
      },
    };
    for (const t of l.tools) {
      const input = t.inputSchema as Record<string, unknown>;
      const required = Array.isArray(input.required) && input.required.length > 0;
      paths[`/api/v1/mcp/${r}/tools/${encodeURIComponent(t.name)}`] = {
        post: {
          operationId: operationId("call", l.route, t.name),
          tags: [l.route],
          summary: t.title ?? t.annotations?.title ?? t.name,
          ...(t.description ? { description: t.description } : {}),
          parameters: [
            {
              name: "Prefer",
              in: "header",
              required: false,
              description: "respond-async: 202 with a status URL when the backend supports MCP tasks",
              schema: { type: "string" },
            },
          ],
          requestBody: {
            required,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: { arguments: input },
                  ...(required ? { required: ["arguments"] } : {}),
                  additionalProperties: false,
                },
              },
            },
          },
          responses: {
            "200": {
              description: t.outputSchema ? "The tool's structured result" : "The tool's content list",
              content: { "application/json": { schema: t.outputSchema ?? { $ref: "#/components/schemas/ContentList" } } },
            },
            "202": {
              description: "Accepted as an MCP task (Prefer: respond-async); poll the Location",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Task" } } },
            },
            "422": problemResponse("The tool reported an error; `result` holds the tool result"),
            ...errors,
          },
        },
      };
    }
    if (l.prompts) {
      paths[`/api/v1/mcp/${r}/prompts`] = {
        get: {
          operationId: operationId("list_prompts", l.route),
          tags: [l.route],
          responses: { "200": jsonAny("The prompts"), ...errors },
        },
      };
      paths[`/api/v1/mcp/${r}/prompts/{name}`] = {
        post: {
          operationId: operationId("get_prompt", l.route),
          tags: [l.route],
          parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
          requestBody: {
            required: false,
            content: {
              "application/json": {
                schema: { type: "object", properties: { arguments: { type: "object", additionalProperties: { type: "string" } } } },
              },
            },
          },
          responses: { "200": jsonAny("The prompt's messages"), ...errors },
        },
      };
    }
    if (l.resources) {
      paths[`/api/v1/mcp/${r}/resources`] = {
        get: {
          operationId: operationId("list_resources", l.route),
          tags: [l.route],
          responses: { "200": jsonAny("The resources"), ...errors },
        },
      };
      paths[`/api/v1/mcp/${r}/resources/read`] = {
        get: {
          operationId: operationId("read_resource", l.route),
          tags: [l.route],
          parameters: [{ name: "uri", in: "query", required: true, schema: { type: "string" } }],
          responses: { "200": jsonAny("The resource's contents"), ...errors },
        },
      };
    }
    paths[`/api/v1/mcp/${r}/tasks/{taskId}`] = {
      get: {
        operationId: operationId("get_task", l.route),
        tags: [l.route],
        parameters: [{ name: "taskId", in: "path", required: true, schema: { type: "string" } }],
        responses: {
          "200": jsonAny("The finished task's result (as a tool call's 200)"),
          "202": { description: "Still running", content: { "application/json": { schema: { $ref: "#/components/schemas/Task" } } } },
          "422": problemResponse("The tool reported an error"),
          ...errors,
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "MCP edge gateway REST bridge", version, description: "MCP tools, prompts and resources over plain HTTP and JSON." },
    servers: [{ url: base }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Problem: {
          type: "object",
          description: "RFC 9457 problem details; `code` is the gateway's error code (docs/errors.md)",
          required: ["type", "title", "status", "code"],
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            instance: { type: "string" },
            code: { type: "string" },
            result: { type: "object", description: "The tool result (422 only)" },
          },
        },
        ContentList: { type: "array", items: { type: "object", required: ["type"], properties: { type: { type: "string" } } } },
        ToolList: { type: "object", properties: { tools: { type: "array", items: { type: "object" } } }, required: ["tools"] },
        Task: {
          type: "object",
          required: ["taskId", "status"],
          properties: {
            taskId: { type: "string" },
            status: { type: "string" },
            statusUrl: { type: "string" },
            pollInterval: { type: "integer" },
          },
        },
      },
    },
  };
}

function jsonAny(description: string) {
  return { description, content: { "application/json": { schema: { type: "object" } } } };
}
