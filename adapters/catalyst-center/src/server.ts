// The Catalyst Center adapter's MCP server: network-engineer tools (devices, health, issues, templates,
// preview, deploy, deployment and task status, read-only CLI) with output schemas and annotations.

import { structuredResult, toolConfigCache, toolRunner } from "@mcp-edge/adapter-kit";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { z } from "zod";
import { type CatalystCenterClient, CatalystCenterError, type Json, type NetworkDevice } from "./client.ts";

export const SERVER_NAME = "catalyst-center";
export const SERVER_VERSION = "0.1.0";

export type ClientProvider = () => CatalystCenterClient;

export class MissingCredentialsError extends Error {}

/** A refusal decided by the adapter itself (wrong site, command not read-only). */
export class AdapterRefusal extends Error {}

/** First words of the commands this adapter lets through; the product's own legit-reads list must also allow them. */
export const READ_ONLY_COMMANDS = ["show", "ping", "traceroute", "dir", "more", "verify", "who"] as const;
/** Longest output kept per command; the rest is cut and flagged. */
export const MAX_OUTPUT_CHARS = 64 * 1024;

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;
const DEPLOY = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } as const;

const obj = z.record(z.string(), z.unknown());
const uuid = (what: string) => z.string().regex(/^[0-9a-fA-F-]{36}$/, `a ${what} UUID`);
const siteArg = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w .\-/]+$/, "a site name (Paris) or hierarchy (Global/France/Paris)")
  .describe("Site name (e.g. paris) or hierarchy (Global/France/Paris)");
const hostname = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.\-_]{0,127}$/, "a device hostname");
const deviceSummary = z.object({
  id: z.string(),
  hostname: z.string(),
  managementIpAddress: z.string(),
  platformId: z.string(),
  family: z.string(),
  role: z.string(),
  softwareVersion: z.string(),
  reachabilityStatus: z.string(),
  serialNumber: z.string(),
  site: z.string(),
});

// Tool configs (zod schemas) are built once per process (a server is created per HTTP request).
const once = toolConfigCache();
// One JSON Schema validator for all servers: the SDK would build a new Ajv instance per server (per
// request here), which profiling showed as the largest single cost of a call. These servers never
// elicit, the only use the SDK makes of it on the server side.
const jsonSchemaValidator = new AjvJsonSchemaValidator();
const ok = structuredResult;

export function toolError(e: unknown): CallToolResult {
  let message: string;
  if (e instanceof CatalystCenterError) message = e.detail ? `${e.message}: ${e.detail}` : e.message;
  else if (e instanceof MissingCredentialsError || e instanceof AdapterRefusal || e instanceof TypeError) message = e.message;
  else message = `Catalyst Center adapter error: ${e instanceof Error ? e.message : String(e)}`;
  return { isError: true, content: [{ type: "text", text: message }] };
}

const run = toolRunner(toolError);

/** Whether a device's site hierarchy ("Global/France/Paris/Building 1") lies in `site` (a name anywhere in it, or a hierarchy prefix). */
export function siteContains(location: string, site: string): boolean {
  const loc = location.toLowerCase();
  const s = site.toLowerCase().replace(/\/+$/, "");
  if (s.includes("/")) return loc === s || loc.startsWith(`${s}/`);
  return loc.split("/").includes(s);
}

/** device uuid → site hierarchy, from Assurance device health (the product's device → site view). */
async function deviceLocations(c: CatalystCenterClient): Promise<Map<string, string>> {
  const rows = await c.getDeviceHealth({ limit: 500 });
  return new Map(rows.map((r) => [String(r.uuid ?? ""), String(r.location ?? "")]));
}

function summary(d: NetworkDevice, locations: Map<string, string>): z.infer<typeof deviceSummary> {
  return {
    id: d.id,
    hostname: d.hostname,
    managementIpAddress: d.managementIpAddress,
    platformId: d.platformId,
    family: d.family,
    role: d.role,
    softwareVersion: d.softwareVersion,
    reachabilityStatus: d.reachabilityStatus,
    serialNumber: d.serialNumber,
    site: locations.get(d.id) ?? String(d.locationName ?? ""),
  };
}

/** Devices by hostname (or UUID), every one of which must exist and lie in `site`. */
async function devicesInSite(
  c: CatalystCenterClient,
  names: readonly string[],
  site: string,
): Promise<Array<z.infer<typeof deviceSummary>>> {
  const uuids = names.filter((n) => /^[0-9a-fA-F-]{36}$/.test(n));
  const hosts = names.filter((n) => !uuids.includes(n));
  const found = [
    ...(hosts.length ? await c.listDevices({ hostname: hosts }) : []),
    ...(uuids.length ? await c.listDevices({ id: uuids }) : []),
  ];
  const missing = names.filter((n) => !found.some((d) => d.hostname === n || d.id === n));
  if (missing.length) throw new AdapterRefusal(`Unknown devices: ${missing.join(", ")}`);
  const locations = await deviceLocations(c);
  const out = found.map((d) => summary(d, locations));
  const outside = out.filter((d) => !siteContains(d.site, site));
  if (outside.length)
    throw new AdapterRefusal(`Devices not in site ${site}: ${outside.map((d) => `${d.hostname} (${d.site || "no site"})`).join(", ")}`);
  return out;
}

/** A site id for a name or hierarchy; a short name must be unambiguous. */
async function siteId(c: CatalystCenterClient, site: string): Promise<string> {
  const sites = await c.getSites();
  const s = site.toLowerCase();
  const hits = sites.filter((x) => String(x.siteNameHierarchy ?? "").toLowerCase() === s || String(x.name ?? "").toLowerCase() === s);
  if (hits.length === 0) throw new AdapterRefusal(`Unknown site ${site}`);
  if (hits.length > 1) throw new AdapterRefusal(`Site name ${site} is ambiguous: ${hits.map((h) => h.siteNameHierarchy).join(", ")}`);
  return String(hits[0]!.id);
}

const clip = (s: string) =>
  s.length > MAX_OUTPUT_CHARS ? `${s.slice(0, MAX_OUTPUT_CHARS)}\n[output truncated at ${MAX_OUTPUT_CHARS} characters]` : s;

export function createCatalystServer(client: ClientProvider): McpServer {
  const server = new McpServer(
    { name: SERVER_NAME, version: SERVER_VERSION },
    {
      jsonSchemaValidator,
      capabilities: { tools: {} },
      instructions:
        "Cisco Catalyst Center: inventory, health and issues, configuration templates (preview, deploy, deployment status), tasks, and read-only CLI commands on devices. Deploying is destructive and site-scoped.",
    },
  );

  server.registerTool(
    "list_devices",
    once("list_devices", () => ({
      title: "List devices",
      description: "Network devices, filtered by hostname (* wildcard), management IP, family, role, reachability or site.",
      inputSchema: {
        hostname: z
          .string()
          .regex(/^[A-Za-z0-9.*\-_]{1,128}$/, "a hostname, * allowed")
          .optional(),
        management_ip: z.string().max(45).optional(),
        family: z.string().max(80).optional(),
        role: z.enum(["CORE", "DISTRIBUTION", "ACCESS", "BORDER ROUTER"]).optional(),
        reachability: z.enum(["Reachable", "Unreachable"]).optional(),
        site: siteArg.optional(),
        limit: z.number().int().min(1).max(500).default(50),
        offset: z.number().int().min(1).default(1).describe("1-based, as Catalyst Center pages"),
      },
      outputSchema: { devices: z.array(deviceSummary), count: z.number().int() },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const c = client();
        const devices = await c.listDevices({
          ...(a.hostname ? { hostname: a.hostname.replaceAll("*", ".*") } : {}),
          ...(a.management_ip ? { managementIpAddress: a.management_ip } : {}),
          ...(a.family ? { family: a.family } : {}),
          ...(a.role ? { role: a.role } : {}),
          ...(a.reachability ? { reachabilityStatus: a.reachability } : {}),
          limit: a.limit,
          offset: a.offset,
        });
        const locations = await deviceLocations(c);
        const rows = devices.map((d) => summary(d, locations)).filter((d) => !a.site || siteContains(d.site, a.site));
        return ok({ devices: rows, count: rows.length }, `${rows.length} devices`);
      }),
  );

  server.registerTool(
    "get_device",
    once("get_device", () => ({
      title: "Device detail and health",
      description: "One device's inventory record and its Assurance health, by hostname or UUID.",
      inputSchema: { device: z.union([hostname, uuid("device")]) },
      outputSchema: { device: obj, health: obj.nullable() },
      annotations: READ,
    })),
    ({ device }) =>
      run(async () => {
        const c = client();
        const isId = /^[0-9a-fA-F-]{36}$/.test(device);
        const d = isId ? await c.getDevice(device) : (await c.listDevices({ hostname: device }))[0];
        if (!d) throw new AdapterRefusal(`Unknown device ${device}`);
        const health = (await c.getDeviceHealth({ limit: 500 })).find((h) => h.uuid === d.id) ?? null;
        return ok({ device: d, health }, `${d.hostname}: ${d.reachabilityStatus}, health ${health?.overallHealth ?? "unknown"}`);
      }),
  );

  server.registerTool(
    "get_device_health",
    once("get_device_health", () => ({
      title: "Device health",
      description: "Assurance health of devices, optionally in one site or of one health class.",
      inputSchema: { site: siteArg.optional(), health: z.enum(["POOR", "FAIR", "GOOD"]).optional() },
      outputSchema: { devices: z.array(obj) },
      annotations: READ,
    })),
    ({ site, health }) =>
      run(async () => {
        const c = client();
        const rows = await c.getDeviceHealth({
          ...(site ? { siteId: await siteId(c, site) } : {}),
          ...(health ? { health } : {}),
          limit: 500,
        });
        return ok({ devices: rows }, `${rows.length} devices`);
      }),
  );

  server.registerTool(
    "list_sites",
    once("list_sites", () => ({
      title: "List sites",
      description: "Sites (areas, buildings, floors), optionally one by hierarchy name.",
      inputSchema: { name: siteArg.optional() },
      outputSchema: { sites: z.array(obj) },
      annotations: READ,
    })),
    ({ name }) =>
      run(async () => {
        const sites = await client().getSites(name ? { name } : {});
        return ok({ sites }, `${sites.length} sites`);
      }),
  );

  server.registerTool(
    "get_site_health",
    once("get_site_health", () => ({
      title: "Site health",
      description: "Health per site: device counts, healthy percentage, average network health.",
      inputSchema: {},
      outputSchema: { sites: z.array(obj) },
      annotations: READ,
    })),
    () =>
      run(async () => {
        const sites = await client().getSiteHealth();
        return ok({ sites }, `${sites.length} sites`);
      }),
  );

  server.registerTool(
    "get_network_health",
    once("get_network_health", () => ({
      title: "Network health",
      description: "Overall network health score and device counts by health.",
      inputSchema: {},
      outputSchema: { health: obj },
      annotations: READ,
    })),
    () =>
      run(async () => {
        const h = await client().getNetworkHealth();
        return ok({ health: h }, `Network health ${String(h.latestHealthScore ?? "unknown")}`);
      }),
  );

  server.registerTool(
    "list_issues",
    once("list_issues", () => ({
      title: "Open issues",
      description: "Assurance issues, by site, device (hostname or UUID), priority and status (default active).",
      inputSchema: {
        site: siteArg.optional(),
        device: z.union([hostname, uuid("device")]).optional(),
        priority: z.enum(["P1", "P2", "P3", "P4"]).optional(),
        status: z.enum(["active", "resolved", "ignored"]).default("active"),
      },
      outputSchema: { issues: z.array(obj) },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const c = client();
        let deviceId: string | undefined;
        if (a.device) {
          deviceId = /^[0-9a-fA-F-]{36}$/.test(a.device) ? a.device : (await c.listDevices({ hostname: a.device }))[0]?.id;
          if (!deviceId) throw new AdapterRefusal(`Unknown device ${a.device}`);
        }
        const issues = await c.getIssues({
          ...(a.site ? { siteId: await siteId(c, a.site) } : {}),
          ...(deviceId ? { deviceId } : {}),
          ...(a.priority ? { priority: a.priority } : {}),
          issueStatus: a.status,
        });
        return ok({ issues }, `${issues.length} ${a.status} issues`);
      }),
  );

  server.registerTool(
    "list_projects",
    once("list_projects", () => ({
      title: "List template projects",
      description: "Template programmer projects.",
      inputSchema: { name: z.string().max(200).optional() },
      outputSchema: { projects: z.array(obj) },
      annotations: READ,
    })),
    ({ name }) =>
      run(async () => {
        const projects = await client().getProjects(name ? { name } : {});
        return ok({ projects }, `${projects.length} projects`);
      }),
  );

  server.registerTool(
    "list_templates",
    once("list_templates", () => ({
      title: "List templates",
      description: "Configuration templates, optionally of one project (by name).",
      inputSchema: { project: z.string().max(200).optional() },
      outputSchema: { templates: z.array(obj) },
      annotations: READ,
    })),
    ({ project }) =>
      run(async () => {
        const templates = await client().getTemplates(project ? { projectNames: [project] } : {});
        return ok({ templates }, `${templates.length} templates`);
      }),
  );

  server.registerTool(
    "get_template",
    once("get_template", () => ({
      title: "Template detail",
      description: "A template's content, language, parameters and version.",
      inputSchema: { template_id: uuid("template") },
      outputSchema: { template: obj },
      annotations: READ,
    })),
    ({ template_id }) =>
      run(async () => {
        const t = await client().getTemplate(template_id);
        return ok({ template: t }, `Template ${String(t.name)}`);
      }),
  );

  const params = z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.union([z.string().max(4000), z.number(), z.boolean()]))
    .default({});

  server.registerTool(
    "preview_template",
    once("preview_template", () => ({
      title: "Preview template",
      description: "Render a template with parameters (optionally for one device) without deploying it.",
      inputSchema: { template_id: uuid("template"), params, device: z.union([hostname, uuid("device")]).optional() },
      outputSchema: { cliPreview: z.string(), validationErrors: obj },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const c = client();
        let deviceId: string | undefined;
        if (a.device) {
          deviceId = /^[0-9a-fA-F-]{36}$/.test(a.device) ? a.device : (await c.listDevices({ hostname: a.device }))[0]?.id;
          if (!deviceId) throw new AdapterRefusal(`Unknown device ${a.device}`);
        }
        const p = await c.previewTemplate({ templateId: a.template_id, params: a.params, ...(deviceId ? { deviceId } : {}) });
        return ok({ cliPreview: p.cliPreview ?? "", validationErrors: p.validationErrors ?? {} }, "Preview");
      }),
  );

  server.registerTool(
    "deploy_template",
    once("deploy_template", () => ({
      title: "Deploy template",
      description:
        "Push a configuration template to devices of one site (destructive: changes device configuration). Every device must lie in `site`. Returns the deployment and task ids; follow with get_deployment_status.",
      inputSchema: {
        template_id: uuid("template"),
        site: siteArg,
        devices: z
          .array(z.union([hostname, uuid("device")]))
          .min(1)
          .max(50),
        params,
        force_push: z.boolean().default(false),
      },
      outputSchema: {
        deploymentId: z.string(),
        taskId: z.string(),
        template: z.string(),
        devices: z.array(z.object({ id: z.string(), hostname: z.string(), site: z.string() })),
      },
      annotations: DEPLOY,
    })),
    (a) =>
      run(async () => {
        const c = client();
        const t = await c.getTemplate(a.template_id);
        const targets = await devicesInSite(c, a.devices, a.site);
        const { deploymentId, taskId } = await c.deployTemplate({
          templateId: a.template_id,
          targets: targets.map((d) => ({ id: d.id, type: "MANAGED_DEVICE_UUID" as const })),
          params: a.params,
          forcePushTemplate: a.force_push,
        });
        return ok(
          {
            deploymentId,
            taskId,
            template: String(t.name ?? a.template_id),
            devices: targets.map((d) => ({ id: d.id, hostname: d.hostname, site: d.site })),
          },
          `Deployment ${deploymentId} of ${String(t.name)} to ${targets.map((d) => d.hostname).join(", ")} started`,
        );
      }),
  );

  server.registerTool(
    "get_deployment_status",
    once("get_deployment_status", () => ({
      title: "Deployment status",
      description: "Status of a template deployment (IN_PROGRESS, SUCCESS, FAILURE) per device.",
      inputSchema: { deployment_id: uuid("deployment") },
      outputSchema: { deployment: obj, status: z.string() },
      annotations: READ,
    })),
    ({ deployment_id }) =>
      run(async () => {
        const d = await client().getDeploymentStatus(deployment_id);
        return ok({ deployment: d, status: String(d.status ?? "") }, `Deployment ${deployment_id}: ${String(d.status)}`);
      }),
  );

  server.registerTool(
    "get_task",
    once("get_task", () => ({
      title: "Task status",
      description: "A Catalyst Center task: progress, error, end time.",
      inputSchema: { task_id: uuid("task") },
      outputSchema: { task: obj, done: z.boolean(), isError: z.boolean() },
      annotations: READ,
    })),
    ({ task_id }) =>
      run(async () => {
        const t = await client().getTask(task_id);
        const done = t.isError || t.endTime !== undefined;
        return ok(
          { task: t as Json, done, isError: t.isError },
          `Task ${task_id}: ${done ? (t.isError ? "failed" : "done") : "in progress"}`,
        );
      }),
  );

  server.registerTool(
    "run_command",
    once("run_command", () => ({
      title: "Run read-only CLI commands",
      description: `Run read-only commands (${READ_ONLY_COMMANDS.join(", ")} …) on devices of one site through the command runner and return their output.`,
      inputSchema: {
        site: siteArg,
        devices: z
          .array(z.union([hostname, uuid("device")]))
          .min(1)
          .max(20),
        commands: z
          .array(
            z
              .string()
              .min(1)
              .max(200)
              .regex(/^[\x20-\x7e]+$/, "one printable command line"),
          )
          .min(1)
          .max(5),
      },
      outputSchema: {
        taskId: z.string(),
        results: z.array(
          z.object({
            device: z.string(),
            deviceUuid: z.string(),
            output: z.record(z.string(), z.string()),
            failed: z.record(z.string(), z.string()),
            refused: z.array(z.string()),
          }),
        ),
      },
      annotations: READ,
    })),
    (a) =>
      run(async () => {
        const c = client();
        const notReadOnly = a.commands.filter(
          (cmd) => !(READ_ONLY_COMMANDS as readonly string[]).includes(cmd.trim().split(/\s+/)[0]!.toLowerCase()),
        );
        if (notReadOnly.length) throw new AdapterRefusal(`Not a read-only command: ${notReadOnly.join("; ")}`);
        const legit = new Set((await c.getLegitReads()).map((k) => k.toLowerCase()));
        const refusedByProduct = a.commands.filter((cmd) => !legit.has(cmd.trim().split(/\s+/)[0]!.toLowerCase()));
        if (refusedByProduct.length)
          throw new AdapterRefusal(`Catalyst Center does not accept as read-only: ${refusedByProduct.join("; ")}`);
        const targets = await devicesInSite(c, a.devices, a.site);
        const r = await c.runReadOnlyCommands({ commands: a.commands, deviceUuids: targets.map((d) => d.id) });
        const results = r.results.map((x) => ({
          device: targets.find((d) => d.id === x.deviceUuid)?.hostname ?? x.deviceUuid,
          deviceUuid: x.deviceUuid,
          output: Object.fromEntries(Object.entries(x.succeeded).map(([k, v]) => [k, clip(v)])),
          failed: Object.fromEntries(Object.entries(x.failed).map(([k, v]) => [k, clip(v)])),
          refused: x.blacklisted,
        }));
        return ok({ taskId: r.taskId, results }, `Ran ${a.commands.length} commands on ${targets.length} devices`);
      }),
  );

  return server;
}
