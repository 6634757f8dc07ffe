// The ServiceNow adapter's MCP server: service-desk tools (incidents, changes, problems, CMDB, users and
// groups) with output schemas and annotations, and records as resources (servicenow://incident/INC0010001).

import { structuredResult, toolConfigCache, toolRunner } from "@mcp-edge/adapter-kit";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { z } from "zod";
import { CHANGE_STATE, INCIDENT_STATE, type ServiceNowClient, ServiceNowError, type ServiceNowRecord } from "./client.ts";

export const SERVER_NAME = "servicenow";
export const SERVER_VERSION = "0.1.0";

/** How a tool call gets its client: per request from injected headers, or once from env (stdio). */
export type ClientProvider = () => ServiceNowClient;

/** Raised when no credentials arrived; reported as a tool error, never as a crash. */
export class MissingCredentialsError extends Error {}

const record = z.record(z.string(), z.string()).describe("A ServiceNow record: every value a string, references as sys_ids");
const page = {
  total: z.number().int().describe("Matches in all pages (X-Total-Count)"),
  offset: z.number().int(),
  limit: z.number().int(),
};
const number = (prefix: string, what: string) =>
  z
    .string()
    .regex(new RegExp(`^(${prefix}\\d{7,}|[0-9a-f]{32})$`), `a ${what} number (${prefix}0010001) or a 32-hex sys_id`)
    .describe(`${what} number (${prefix}…) or sys_id`);
const limit = z.number().int().min(1).max(100).default(20);
const offset = z.number().int().min(0).max(100_000).default(0);
const text = (max: number) => z.string().min(1).max(max);

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;
/** Creates and journal entries only add. */
const ADD = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true } as const;
/** Updates overwrite fields or move state: destructive for policy purposes. */
const CHANGE = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true } as const;

// Tool configs (zod schemas) are built once per process (a server is created per HTTP request).
const once = toolConfigCache();
// One JSON Schema validator for all servers: the SDK would build a new Ajv instance per server (per
// request here), which profiling showed as the largest single cost of a call. These servers never
// elicit, the only use the SDK makes of it on the server side.
const jsonSchemaValidator = new AjvJsonSchemaValidator();
const ok = structuredResult;

/** Backend failures become tool errors with the instance's message, so the model can react; nothing is thrown. */
export function toolError(e: unknown): CallToolResult {
  let message: string;
  if (e instanceof ServiceNowError || e instanceof MissingCredentialsError || e instanceof TypeError) message = e.message;
  else message = `ServiceNow adapter error: ${e instanceof Error ? e.message : String(e)}`;
  return { isError: true, content: [{ type: "text", text: message }] };
}

const run = toolRunner(toolError);

const SERVER_FIELDS = new Set(["sys_id", "sys_created_on", "sys_created_by", "sys_updated_on", "sys_updated_by", "sys_mod_count"]);

/** Fields a caller may set on create/update: ServiceNow field names with scalar values. */
const fields = z
  .record(z.string().regex(/^[a-z][a-z0-9_]{0,79}$/, "a ServiceNow field name"), z.union([z.string().max(32_000), z.number(), z.boolean()]))
  .refine((f) => Object.keys(f).length <= 50, "at most 50 fields")
  .refine(
    (f) => !Object.keys(f).some((k) => SERVER_FIELDS.has(k)),
    "sys_id, sys_created_*, sys_updated_* and sys_mod_count are set by the instance",
  );

/** The arguments that were given (the schema's optional fields left out). */
function defined(args: Record<string, unknown>): Record<string, string | number | boolean> {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined)) as Record<string, string | number | boolean>;
}

async function mustFind(c: ServiceNowClient, table: string, id: string, what: string): Promise<ServiceNowRecord> {
  const r = await c.find(table, id);
  if (!r) throw new ServiceNowError(`${what} ${id} not found`, 404);
  return r;
}

export function createServiceNowServer(client: ClientProvider): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      jsonSchemaValidator,
      capabilities: { tools: {}, resources: {} },
      instructions:
        "ServiceNow ITSM: incidents, change requests, problems, CMDB configuration items, users and groups. Records are also resources: servicenow://incident/INC0010001.",
    },
  );

  // ── incidents ─────────────────────────────────────────────────────────────────────────────────

  server.registerTool(
    "create_incident",
    once("create_incident", () => ({
      title: "Create incident",
      description: "Open an incident. caller_id, assignment_group and cmdb_ci accept a sys_id or a name (user name for callers).",
      inputSchema: {
        short_description: text(160),
        description: z.string().max(32_000).optional(),
        caller_id: z.string().max(100).optional(),
        assignment_group: z.string().max(100).optional(),
        cmdb_ci: z.string().max(100).optional(),
        impact: z.enum(["1", "2", "3"]).optional(),
        urgency: z.enum(["1", "2", "3"]).optional(),
        category: z.string().max(40).optional(),
      },
      outputSchema: { incident: record },
      annotations: ADD,
    })),
    (args) =>
      run(async () => {
        const c = client();
        const inc = await c.createIncident(await c.withReferences(defined(args)));
        return ok({ incident: inc }, `Created ${inc.number}`);
      }),
  );

  server.registerTool(
    "get_incident",
    once("get_incident", () => ({
      title: "Get incident",
      description: "An incident by number (INC0010001) or sys_id.",
      inputSchema: { number: number("INC", "incident") },
      outputSchema: { incident: record },
      annotations: READ,
    })),
    ({ number: n }) => run(async () => ok({ incident: await mustFind(client(), "incident", n, "Incident") }, `Incident ${n}`)),
  );

  server.registerTool(
    "query_incidents",
    once("query_incidents", () => ({
      title: "Query incidents",
      description: "Incidents by state, assignment group (name or sys_id), caller (user name, name or sys_id) and free text, newest first.",
      inputSchema: {
        state: z.enum(Object.keys(INCIDENT_STATE) as [keyof typeof INCIDENT_STATE]).optional(),
        assignment_group: z.string().max(100).optional(),
        caller: z.string().max(100).optional(),
        text: z.string().max(200).optional(),
        active: z.boolean().optional(),
        limit,
        offset,
      },
      outputSchema: { incidents: z.array(record), ...page },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const r = await client().queryIncidents({
          ...(a.state ? { state: INCIDENT_STATE[a.state] } : {}),
          ...(a.assignment_group ? { assignmentGroup: a.assignment_group } : {}),
          ...(a.caller ? { caller: a.caller } : {}),
          ...(a.text ? { text: a.text } : {}),
          ...(a.active !== undefined ? { active: a.active } : {}),
          limit: a.limit,
          offset: a.offset,
        });
        return ok(
          { incidents: r.records, total: r.total, offset: a.offset, limit: a.limit },
          `${r.records.length} of ${r.total} incidents`,
        );
      }),
  );

  server.registerTool(
    "update_incident",
    once("update_incident", () => ({
      title: "Update incident",
      description:
        "Set fields of an incident (e.g. assignment_group, assigned_to, state, impact). Use resolve_incident / close_incident to finish one.",
      inputSchema: { number: number("INC", "incident"), fields },
      outputSchema: { incident: record },
      annotations: CHANGE,
    })),
    ({ number: n, fields: f }) =>
      run(async () => {
        const c = client();
        const inc = await mustFind(c, "incident", n, "Incident");
        return ok({ incident: await c.updateIncident(inc.sys_id!, await c.withReferences(f)) }, `Updated ${inc.number}`);
      }),
  );

  for (const [name, element, title] of [
    ["add_incident_work_note", "work_notes", "Add work note"],
    ["add_incident_comment", "comments", "Add comment"],
  ] as const) {
    server.registerTool(
      name,
      once(name, () => ({
        title,
        description:
          element === "work_notes" ? "Add an internal work note to an incident." : "Add a comment to an incident (visible to the caller).",
        inputSchema: { number: number("INC", "incident"), text: text(32_000) },
        outputSchema: { incident: record },
        annotations: ADD,
      })),
      ({ number: n, text: t }) =>
        run(async () => {
          const c = client();
          const inc = await mustFind(c, "incident", n, "Incident");
          const updated =
            element === "work_notes" ? await c.addWorkNote("incident", inc.sys_id!, t) : await c.addComment("incident", inc.sys_id!, t);
          return ok({ incident: updated }, `${title} on ${inc.number}`);
        }),
    );
  }

  server.registerTool(
    "resolve_incident",
    once("resolve_incident", () => ({
      title: "Resolve incident",
      description: "Resolve an incident (state 6) with a close code (e.g. 'Solution provided') and close notes.",
      inputSchema: { number: number("INC", "incident"), close_code: text(80), close_notes: text(4000) },
      outputSchema: { incident: record },
      annotations: CHANGE,
    })),
    ({ number: n, close_code, close_notes }) =>
      run(async () => {
        const c = client();
        const inc = await mustFind(c, "incident", n, "Incident");
        return ok(
          { incident: await c.resolveIncident(inc.sys_id!, { closeCode: close_code, closeNotes: close_notes }) },
          `Resolved ${inc.number}`,
        );
      }),
  );

  server.registerTool(
    "close_incident",
    once("close_incident", () => ({
      title: "Close incident",
      description: "Close an incident (state 7). Close code and notes are needed unless it was resolved with them.",
      inputSchema: { number: number("INC", "incident"), close_code: text(80).optional(), close_notes: text(4000).optional() },
      outputSchema: { incident: record },
      annotations: CHANGE,
    })),
    ({ number: n, close_code, close_notes }) =>
      run(async () => {
        const c = client();
        const inc = await mustFind(c, "incident", n, "Incident");
        const closed = await c.closeIncident(inc.sys_id!, {
          ...(close_code ? { closeCode: close_code } : {}),
          ...(close_notes ? { closeNotes: close_notes } : {}),
        });
        return ok({ incident: closed }, `Closed ${inc.number}`);
      }),
  );

  // ── change requests ──────────────────────────────────────────────────────────────────────────

  server.registerTool(
    "create_change",
    once("create_change", () => ({
      title: "Create change request",
      description: "Create a normal or standard change request (standard changes skip assessment and approval).",
      inputSchema: {
        type: z.enum(["normal", "standard"]).default("normal"),
        short_description: text(160),
        description: z.string().max(32_000).optional(),
        assignment_group: z.string().max(100).optional(),
        cmdb_ci: z.string().max(100).optional(),
        start_date: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, "YYYY-MM-DD HH:MM:SS (UTC)")
          .optional(),
        end_date: z
          .string()
          .regex(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, "YYYY-MM-DD HH:MM:SS (UTC)")
          .optional(),
        risk: z.enum(["2", "3", "4"]).optional(),
        implementation_plan: z.string().max(32_000).optional(),
        backout_plan: z.string().max(32_000).optional(),
      },
      outputSchema: { change: record },
      annotations: ADD,
    })),
    (args) =>
      run(async () => {
        const c = client();
        const chg = await c.createChange(await c.withReferences(defined(args)));
        return ok({ change: chg }, `Created ${chg.number}`);
      }),
  );

  server.registerTool(
    "get_change",
    once("get_change", () => ({
      title: "Get change request",
      description: "A change request by number (CHG0030001) or sys_id.",
      inputSchema: { number: number("CHG", "change") },
      outputSchema: { change: record },
      annotations: READ,
    })),
    ({ number: n }) => run(async () => ok({ change: await mustFind(client(), "change_request", n, "Change") }, `Change ${n}`)),
  );

  server.registerTool(
    "move_change",
    once("move_change", () => ({
      title: "Move change request",
      description:
        "Move a change to another state: normal changes go new → assess → authorize → scheduled → implement → review → closed; standard ones skip assess and authorize; any may be canceled. Closing needs close_code (successful, successful_issues, unsuccessful) and close_notes.",
      inputSchema: {
        number: number("CHG", "change"),
        state: z.enum(Object.keys(CHANGE_STATE) as [keyof typeof CHANGE_STATE]),
        close_code: z.enum(["successful", "successful_issues", "unsuccessful"]).optional(),
        close_notes: text(4000).optional(),
        work_notes: text(32_000).optional(),
      },
      outputSchema: { change: record },
      annotations: CHANGE,
    })),
    ({ number: n, state, close_code, close_notes, work_notes }) =>
      run(async () => {
        const c = client();
        const chg = await mustFind(c, "change_request", n, "Change");
        const extra = {
          ...(close_code ? { close_code } : {}),
          ...(close_notes ? { close_notes } : {}),
          ...(work_notes ? { work_notes } : {}),
        };
        return ok({ change: await c.moveChange(chg.sys_id!, state, extra) }, `${chg.number} → ${state}`);
      }),
  );

  server.registerTool(
    "list_changes_awaiting_approval",
    once("list_changes_awaiting_approval", () => ({
      title: "Changes awaiting approval",
      description: "Active change requests whose approval is requested, oldest first.",
      inputSchema: { limit, offset },
      outputSchema: { changes: z.array(record), ...page },
      annotations: READ,
    })),
    ({ limit: l, offset: o }) =>
      run(async () => {
        const r = await client().listChangesAwaitingApproval({ limit: l, offset: o });
        return ok({ changes: r.records, total: r.total, offset: o, limit: l }, `${r.total} changes awaiting approval`);
      }),
  );

  // ── problems ─────────────────────────────────────────────────────────────────────────────────

  server.registerTool(
    "create_problem",
    once("create_problem", () => ({
      title: "Create problem",
      description: "Open a problem record.",
      inputSchema: {
        short_description: text(160),
        description: z.string().max(32_000).optional(),
        assignment_group: z.string().max(100).optional(),
        cmdb_ci: z.string().max(100).optional(),
      },
      outputSchema: { problem: record },
      annotations: ADD,
    })),
    (args) =>
      run(async () => {
        const c = client();
        const p = await c.createProblem(await c.withReferences(defined(args)));
        return ok({ problem: p }, `Created ${p.number}`);
      }),
  );

  server.registerTool(
    "get_problem",
    once("get_problem", () => ({
      title: "Get problem",
      description: "A problem by number (PRB0040001) or sys_id.",
      inputSchema: { number: number("PRB", "problem") },
      outputSchema: { problem: record },
      annotations: READ,
    })),
    ({ number: n }) => run(async () => ok({ problem: await mustFind(client(), "problem", n, "Problem") }, `Problem ${n}`)),
  );

  server.registerTool(
    "query_problems",
    once("query_problems", () => ({
      title: "Query problems",
      description: "Problems by state value (101 New … 107 Closed) and free text, newest first.",
      inputSchema: {
        state: z.enum(["101", "102", "103", "104", "106", "107"]).optional(),
        text: z.string().max(200).optional(),
        limit,
        offset,
      },
      outputSchema: { problems: z.array(record), ...page },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const r = await client().queryProblems({
          ...(a.state ? { state: a.state } : {}),
          ...(a.text ? { text: a.text } : {}),
          limit: a.limit,
          offset: a.offset,
        });
        return ok({ problems: r.records, total: r.total, offset: a.offset, limit: a.limit }, `${r.records.length} of ${r.total} problems`);
      }),
  );

  server.registerTool(
    "update_problem",
    once("update_problem", () => ({
      title: "Update problem",
      description: "Set fields of a problem (state, assignment, cause notes, fix notes, work_notes …).",
      inputSchema: { number: number("PRB", "problem"), fields },
      outputSchema: { problem: record },
      annotations: CHANGE,
    })),
    ({ number: n, fields: f }) =>
      run(async () => {
        const c = client();
        const p = await mustFind(c, "problem", n, "Problem");
        return ok({ problem: await c.updateProblem(p.sys_id!, await c.withReferences(f)) }, `Updated ${p.number}`);
      }),
  );

  // ── CMDB, users, groups ──────────────────────────────────────────────────────────────────────

  server.registerTool(
    "find_configuration_items",
    once("find_configuration_items", () => ({
      title: "Find configuration items",
      description:
        "CMDB configuration items whose name contains `name`, optionally of one class (e.g. cmdb_ci_ip_router) or with one IP address.",
      inputSchema: {
        name: z.string().max(100).optional(),
        class_name: z
          .string()
          .regex(/^[a-z0-9_]+$/)
          .optional(),
        ip_address: z.string().max(45).optional(),
        limit,
      },
      outputSchema: { items: z.array(record), total: z.number().int() },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const r = await client().findConfigurationItems({
          ...(a.name ? { name: a.name } : {}),
          ...(a.class_name ? { className: a.class_name } : {}),
          ...(a.ip_address ? { ipAddress: a.ip_address } : {}),
          limit: a.limit,
        });
        return ok({ items: r.records, total: r.total }, `${r.records.length} of ${r.total} configuration items`);
      }),
  );

  server.registerTool(
    "find_users",
    once("find_users", () => ({
      title: "Find users",
      description: "Users whose user name, name or email contains the text.",
      inputSchema: { text: text(100), limit },
      outputSchema: { users: z.array(record), total: z.number().int() },
      annotations: READ,
    })),
    ({ text: t, limit: l }) =>
      run(async () => {
        const r = await client().findUsers(t, l);
        return ok({ users: r.records, total: r.total }, `${r.records.length} of ${r.total} users`);
      }),
  );

  server.registerTool(
    "find_groups",
    once("find_groups", () => ({
      title: "Find groups",
      description: "Assignment groups whose name contains the text.",
      inputSchema: { text: text(100), limit },
      outputSchema: { groups: z.array(record), total: z.number().int() },
      annotations: READ,
    })),
    ({ text: t, limit: l }) =>
      run(async () => {
        const r = await client().findGroups(t, l);
        return ok({ groups: r.records, total: r.total }, `${r.records.length} of ${r.total} groups`);
      }),
  );

  // ── records as resources ─────────────────────────────────────────────────────────────────────

  const RESOURCE_TABLES: Record<string, string> = { incident: "INC", change_request: "CHG", problem: "PRB" };
  server.registerResource(
    "record",
    new ResourceTemplate("servicenow://{table}/{number}", {
      // The 20 most recent active incidents; other records are read by URI.
      list: async () => {
        try {
          const r = await client().queryIncidents({ active: true, limit: 20 });
          return {
            resources: r.records.map((inc) => ({
              uri: `servicenow://incident/${inc.number}`,
              name: inc.number!,
              title: `${inc.number}: ${inc.short_description ?? ""}`,
              mimeType: "application/json",
            })),
          };
        } catch {
          return { resources: [] };
        }
      },
    }),
    { title: "ServiceNow record", description: "servicenow://incident|change_request|problem/{number}", mimeType: "application/json" },
    async (uri, vars) => {
      const table = String(vars.table);
      const num = String(vars.number);
      const prefix = RESOURCE_TABLES[table];
      if (!prefix || !new RegExp(`^${prefix}\\d{7,}$`).test(num)) throw new Error(`Unknown ServiceNow resource ${uri.href}`);
      const rec = await client().find(table, num);
      if (!rec) throw new Error(`Resource ${uri.href} not found`);
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(rec, null, 2) }] };
    },
  );

  return server;
}
