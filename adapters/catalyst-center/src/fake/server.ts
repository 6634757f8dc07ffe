// HTTP side of the Catalyst Center fake: the token endpoint and the intent API methods the adapter uses,
// on 127.0.0.1. Every exchange is logged so tests can validate requests and responses against schemas/.

import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readBoundedBody } from "@mcp-edge/adapter-kit";
import { routeOf, validateRequest } from "../schemas.ts";
import {
  CatalystState,
  type DeviceDeployment,
  type FakeDeployment,
  type FakeDevice,
  type FakeTemplate,
  renderTemplate,
  seedState,
} from "./state.ts";

export interface CatalystFakeOptions {
  /** Accounts for POST /dna/system/api/v1/auth/token. Default: admin / "admin-password". */
  users?: Record<string, string>;
  /** Token lifetime (default 60 min, as the product). */
  tokenTtlMs?: number;
  /** How long a template deployment stays IN_PROGRESS (default 300 ms). */
  deploymentDurationMs?: number;
  /** How long a command-runner request takes (default 100 ms). */
  commandDurationMs?: number;
  /**
   * Make deployments fail: true for all, a set of device hostnames, or a function of the template and
   * device returning a failure message (or undefined for success).
   */
  failDeployments?: boolean | ReadonlySet<string> | ((template: FakeTemplate, device: FakeDevice) => string | undefined);
  /** Answer 400 to a request body that breaks its method's request schema (default true). */
  strictRequests?: boolean;
  /** Seed sites, devices, issues, a project and templates (default true). */
  seed?: boolean;
  /** Listen address (default 127.0.0.1, port 0). */
  host?: string;
  port?: number;
  /** Answer this many API requests with 429 + Retry-After. */
  rateLimit?: { count: number; retryAfterSeconds?: number };
  /** Delay every API answer (timeouts in tests). */
  delayMs?: number;
}

export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage["headers"];
  requestBody: unknown;
  status: number;
  responseBody: unknown;
}

export interface CatalystFake {
  readonly url: string;
  readonly state: CatalystState;
  /** Every exchange, in order. */
  readonly exchanges: Exchange[];
  /** Change the deployment knobs at run time. */
  setDeploymentDuration(ms: number): void;
  setFailDeployments(f: CatalystFakeOptions["failDeployments"]): void;
  /** Expire every issued token now. */
  expireTokens(): void;
  /** Answer the next `count` API requests with 429 and `Retry-After: seconds`. */
  rateLimitNext(count: number, seconds?: number): void;
  close(): Promise<void>;
}

class ApiError extends Error {
  readonly status: number;
  readonly errorCode: string;
  readonly detail: string;
  constructor(status: number, errorCode: string, message: string, detail = "") {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
    this.detail = detail;
  }
}

const LEGIT_READS = ["cat", "copy", "debug", "dir", "do", "more", "ping", "show", "traceroute", "verify", "who"];

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage, max = 1 << 20): Promise<string> {
  const text = await readBoundedBody(req, max);
  if (text === undefined) throw new ApiError(413, "NCND00413", "Request body too large");
  return text;
}

const API = "/dna/intent/api";

export async function startCatalystFake(opts: CatalystFakeOptions = {}): Promise<CatalystFake> {
  const state = new CatalystState();
  if (opts.seed !== false) seedState(state);
  const users = opts.users ?? { admin: "admin-password" };
  const tokenTtl = opts.tokenTtlMs ?? 3_600_000;
  let deploymentDuration = opts.deploymentDurationMs ?? 300;
  const commandDuration = opts.commandDurationMs ?? 100;
  let failDeployments = opts.failDeployments;
  const strict = opts.strictRequests !== false;
  const tokens = new Map<string, { user: string; expiresAt: number }>();
  const exchanges: Exchange[] = [];
  let limited = opts.rateLimit?.count ?? 0;
  let retryAfter = opts.rateLimit?.retryAfterSeconds ?? 1;

  const health = (d: FakeDevice) => (d.overallHealth >= 8 ? "GOOD" : d.overallHealth >= 4 ? "FAIR" : "POOR");

  function deviceView(d: FakeDevice): Record<string, unknown> {
    const site = state.sites.get(d.siteId);
    const up = 86_400 * 12;
    return {
      apEthernetMacAddress: "",
      bootDateTime: new Date(Date.now() - up * 1000).toISOString().slice(0, 19).replace("T", " "),
      collectionInterval: "Global Default",
      collectionStatus: d.reachabilityStatus === "Reachable" ? "Managed" : "Partial Collection Failure",
      description: `Cisco IOS Software [${d.softwareVersion}], ${d.platformId}`,
      dnsResolvedManagementAddress: d.managementIpAddress,
      errorCode: "",
      errorDescription: "",
      family: d.family,
      hostname: d.hostname,
      id: d.id,
      instanceTenantId: "5f3b9c2e1a0d4e0013a1b2c3",
      instanceUuid: d.id,
      interfaceCount: d.family === "Routers" ? "8" : "52",
      inventoryStatusDetail: '<status><general code="SUCCESS"/></status>',
      lastDeviceResyncStartTime: "",
      lastManagedResyncReasons: "Periodic",
      lastUpdateTime: Date.now() - 60_000,
      lastUpdated: new Date(Date.now() - 60_000).toISOString().slice(0, 19).replace("T", " "),
      lineCardCount: "1",
      lineCardId: "",
      location: site?.id ?? "",
      locationName: site?.siteNameHierarchy ?? "",
      macAddress: d.macAddress,
      managedAtleastOnce: true,
      managementIpAddress: d.managementIpAddress,
      managementState: "Managed",
      memorySize: "NA",
      pendingSyncRequestsCount: "0",
      platformId: d.platformId,
      reachabilityFailureReason: d.reachabilityStatus === "Reachable" ? "" : "SNMP Connectivity Failed",
      reachabilityStatus: d.reachabilityStatus,
      reasonsForDeviceResync: "Periodic",
      reasonsForPendingSyncRequests: "",
      role: d.role,
      roleSource: "AUTO",
      serialNumber: d.serialNumber,
      series: d.series,
      snmpContact: "",
      snmpLocation: site?.siteNameHierarchy ?? "",
      softwareType: d.softwareType,
      softwareVersion: d.softwareVersion,
      tagCount: "0",
      tunnelUdpPort: "",
      type: d.platformId,
      upTime: "12 days, 0:00:00.00",
      uptimeSeconds: up,
      vendor: "Cisco",
      waasDeviceMode: "",
    };
  }

  /** Filter values: exact, case-insensitive; `.*` makes a regular expression (as the product's wildcard). */
  const fieldMatch = (actual: string, wanted: string[]) =>
    wanted.some((w) => (w.includes(".*") ? new RegExp(`^${w}$`, "i").test(actual) : actual.toLowerCase() === w.toLowerCase()));

  function listDevices(q: URLSearchParams): unknown {
    let rows = [...state.devices.values()];
    const filters: Record<string, (d: FakeDevice) => string> = {
      hostname: (d) => d.hostname,
      managementIpAddress: (d) => d.managementIpAddress,
      macAddress: (d) => d.macAddress,
      family: (d) => d.family,
      platformId: (d) => d.platformId,
      serialNumber: (d) => d.serialNumber,
      reachabilityStatus: (d) => d.reachabilityStatus,
      role: (d) => d.role,
      softwareVersion: (d) => d.softwareVersion,
      id: (d) => d.id,
    };
    for (const [k, get] of Object.entries(filters)) {
      const wanted = q.getAll(k).flatMap((v) => (k === "id" ? v.split(",") : [v]));
      if (wanted.length > 0) rows = rows.filter((d) => fieldMatch(get(d), wanted));
    }
    const { offset, limit } = page(q, 500);
    return { response: rows.slice(offset, offset + limit).map(deviceView), version: "1.0" };
  }

  /** 1-based `offset` and `limit`, as the intent API pages. */
  function page(q: URLSearchParams, maxLimit: number): { offset: number; limit: number } {
    const o = Number(q.get("offset") ?? "1");
    const l = Number(q.get("limit") ?? String(maxLimit));
    if (!Number.isInteger(o) || o < 1) throw new ApiError(400, "NCND01400", "Invalid input: offset must be a positive integer");
    if (!Number.isInteger(l) || l < 1 || l > maxLimit)
      throw new ApiError(400, "NCND01400", `Invalid input: limit must be between 1 and ${maxLimit}`);
    return { offset: o - 1, limit: l };
  }

  function deviceHealth(q: URLSearchParams): unknown {
    let rows = [...state.devices.values()];
    const siteId = q.get("siteId");
    if (siteId) {
      const site = state.sites.get(siteId);
      rows = site ? rows.filter((d) => state.within(state.sites.get(d.siteId)!, site)) : [];
    }
    const h = q.get("health");
    if (h) rows = rows.filter((d) => health(d) === h.toUpperCase());
    const role = q.get("deviceRole");
    if (role) rows = rows.filter((d) => d.role === role.toUpperCase());
    const { offset, limit } = page(q, 500);
    return {
      version: "1.0",
      totalCount: rows.length,
      response: rows.slice(offset, offset + limit).map((d) => ({
        name: d.hostname,
        model: d.platformId,
        osVersion: d.softwareVersion,
        ipAddress: d.managementIpAddress,
        overallHealth: d.overallHealth,
        issueCount: state.issues.filter((i) => i.deviceId === d.id && i.status === "active").length,
        location: state.sites.get(d.siteId)?.siteNameHierarchy ?? "",
        deviceFamily: d.family,
        deviceType: d.series,
        macAddress: d.macAddress,
        interfaceLinkErrHealth: 10,
        cpuUtilization: d.cpuUtilization,
        cpuHealth: d.cpuUtilization > 90 ? 1 : 10,
        memoryUtilizationHealth: 10,
        memoryUtilization: d.memoryUtilization,
        interDeviceLinkAvailHealth: 10,
        reachabilityHealth: d.reachabilityStatus === "Reachable" ? "REACHABLE" : "UNREACHABLE",
        uuid: d.id,
      })),
    };
  }

  function sites(q: URLSearchParams): unknown {
    let rows = [...state.sites.values()];
    const name = q.get("name");
    if (name) rows = rows.filter((s) => s.siteNameHierarchy === name);
    const id = q.get("siteId");
    if (id) rows = rows.filter((s) => s.id === id);
    const type = q.get("type");
    if (type) rows = rows.filter((s) => s.type === type);
    if ((name || id) && rows.length === 0) throw new ApiError(404, "NCGR10008", "Site not found", `No site matches ${name ?? id}`);
    return {
      response: rows.map((s) => ({
        id: s.id,
        name: s.name,
        parentId: s.parentId,
        siteHierarchy: state.siteIdHierarchy(s),
        siteNameHierarchy: s.siteNameHierarchy,
        instanceTenantId: "5f3b9c2e1a0d4e0013a1b2c3",
        additionalInfo: [],
      })),
    };
  }

  function siteHealth(): unknown {
    return {
      response: [...state.sites.values()].map((s) => {
        const devs = [...state.devices.values()].filter((d) => state.within(state.sites.get(d.siteId)!, s));
        const good = devs.filter((d) => d.overallHealth >= 8).length;
        const avg = devs.length ? Math.round(devs.reduce((a, d) => a + d.overallHealth, 0) / devs.length) : 0;
        const parent = state.sites.get(s.parentId);
        return {
          siteName: s.name,
          siteId: s.id,
          parentSiteId: s.parentId,
          parentSiteName: parent?.name ?? "",
          siteType: s.type,
          numberOfNetworkDevice: devs.length,
          overallGoodDevices: good,
          healthyNetworkDevicePercentage: devs.length ? Math.round((good / devs.length) * 100) : 0,
          networkHealthAverage: avg,
          coreTotalCount: devs.filter((d) => d.role === "CORE").length,
          coreGoodCount: devs.filter((d) => d.role === "CORE" && d.overallHealth >= 8).length,
          accessTotalCount: devs.filter((d) => d.role === "ACCESS").length,
          accessGoodCount: devs.filter((d) => d.role === "ACCESS" && d.overallHealth >= 8).length,
          numberOfClients: 0,
          healthyClientsPercentage: 0,
        };
      }),
    };
  }

  function networkHealth(): unknown {
    const devs = [...state.devices.values()];
    const good = devs.filter((d) => d.overallHealth >= 8).length;
    const fair = devs.filter((d) => d.overallHealth >= 4 && d.overallHealth < 8).length;
    const bad = devs.length - good - fair;
    const now = Date.now();
    return {
      version: "1.0",
      response: [
        {
          time: new Date(now).toISOString(),
          timeinMillis: now,
          healthScore: devs.length ? Math.round((good / devs.length) * 100) : 0,
          totalCount: devs.length,
          goodCount: good,
          fairCount: fair,
          badCount: bad,
          noHealthCount: 0,
          unmonCount: 0,
          maintenanceModeCount: 0,
          entity: "ALL",
        },
      ],
      measuredBy: "global",
      latestMeasuredByEntity: "ALL",
      latestHealthScore: devs.length ? Math.round((good / devs.length) * 100) : 0,
      monitoredDevices: devs.length,
      monitoredHealthyDevices: good,
      monitoredUnHealthyDevices: bad,
      monitoredFairHealthDevices: fair,
      monitoredPoorHealthDevices: bad,
      unMonitoredDevices: 0,
      noHealthDevices: 0,
      totalDevices: devs.length,
      healthContributingDevices: devs.length,
      healthDistirubution: [],
    };
  }

  function issues(q: URLSearchParams): unknown {
    let rows = [...state.issues];
    const siteId = q.get("siteId");
    if (siteId) {
      const site = state.sites.get(siteId);
      rows = site ? rows.filter((i) => state.within(state.sites.get(i.siteId)!, site)) : [];
    }
    const deviceId = q.get("deviceId");
    if (deviceId) rows = rows.filter((i) => i.deviceId === deviceId);
    const priority = q.get("priority");
    if (priority) rows = rows.filter((i) => i.priority === priority.toUpperCase());
    const status = q.get("issueStatus");
    if (status) rows = rows.filter((i) => i.status === status.toLowerCase());
    return { version: "1.0", totalCount: String(rows.length), response: rows };
  }

  function projects(q: URLSearchParams): unknown {
    const name = q.get("name");
    return [...state.projects.values()]
      .filter((p) => !name || p.name === name)
      .map((p) => ({
        name: p.name,
        id: p.id,
        description: p.description,
        createTime: p.createTime,
        lastUpdateTime: p.lastUpdateTime,
        tags: [],
      }));
  }

  function templates(q: URLSearchParams): unknown {
    const projectId = q.get("projectId");
    const projectNames = q.getAll("projectNames");
    const softwareType = q.get("softwareType");
    return [...state.templates.values()]
      .filter((t) => !projectId || t.projectId === projectId)
      .filter((t) => projectNames.length === 0 || projectNames.includes(state.projects.get(t.projectId)?.name ?? ""))
      .filter((t) => !softwareType || t.softwareType === softwareType)
      .map((t) => ({
        name: t.name,
        projectName: state.projects.get(t.projectId)?.name ?? "",
        projectId: t.projectId,
        templateId: t.id,
        composite: false,
        versionsInfo: t.versions.map((v) => ({
          id: v.id,
          description: t.description,
          version: v.version,
          versionTime: v.versionTime,
          author: v.author,
          versionComment: v.versionComment,
        })),
      }));
  }

  function template(id: string): FakeTemplate {
    const t = state.templates.get(id);
    if (!t) throw new ApiError(404, "NCTP10401", "Template not found", `No template with id ${id}`);
    return t;
  }

  function templateView(t: FakeTemplate): unknown {
    return {
      author: "admin",
      composite: false,
      createTime: t.createTime,
      description: t.description,
      deviceTypes: [{ productFamily: t.productFamily }],
      failurePolicy: "ABORT_TARGET_ON_ERROR",
      id: t.id,
      language: t.language,
      lastUpdateTime: t.lastUpdateTime,
      latestVersionTime: t.versions.at(-1)?.versionTime ?? t.createTime,
      name: t.name,
      projectId: t.projectId,
      projectName: state.projects.get(t.projectId)?.name ?? "",
      softwareType: t.softwareType,
      templateContent: t.templateContent,
      templateParams: t.templateParams.map((p, i) => ({
        ...p,
        order: i + 1,
        displayName: p.parameterName,
        notParam: false,
        paramArray: false,
      })),
      version: t.versions.at(-1)?.version ?? "1",
      tags: [],
    };
  }

  function preview(body: Record<string, unknown>): unknown {
    const t = template(String(body.templateId ?? ""));
    const deviceId = typeof body.deviceId === "string" ? body.deviceId : "";
    if (deviceId && !state.devices.has(deviceId)) throw new ApiError(404, "NCTP10404", "Device not found", `No device with id ${deviceId}`);
    const { text, missing } = renderTemplate(t, (body.params as Record<string, unknown> | undefined) ?? {});
    return {
      cliPreview: text,
      deviceId,
      templateId: t.id,
      validationErrors: missing.length ? { missingParameters: missing.join(",") } : {},
    };
  }

  function resolveTarget(target: Record<string, unknown>): FakeDevice | undefined {
    const type = String(target.type ?? "MANAGED_DEVICE_UUID");
    const id = typeof target.id === "string" ? target.id : "";
    const host = typeof target.hostName === "string" ? target.hostName : "";
    const all = [...state.devices.values()];
    if (type === "MANAGED_DEVICE_UUID") return state.devices.get(id);
    if (type === "MANAGED_DEVICE_IP") return all.find((d) => d.managementIpAddress === id);
    if (type === "MANAGED_DEVICE_HOSTNAME") return all.find((d) => d.hostname === (host || id));
    return undefined;
  }

  function failureFor(t: FakeTemplate, d: FakeDevice): string | undefined {
    const f = failDeployments;
    if (f === true) return "Configuration push failed: device rejected the configuration";
    if (f instanceof Set) return f.has(d.hostname) ? `Configuration push failed on ${d.hostname}` : undefined;
    if (typeof f === "function") return f(t, d);
    return undefined;
  }

  /** The deployment's status now; applies configuration to devices once (when it completes). */
  function deploymentView(dep: FakeDeployment, now: number): Record<string, unknown> {
    const done = now - dep.startTime >= dep.durationMs;
    const t = state.templates.get(dep.templateId);
    if (done && !dep.applied) {
      dep.applied = true;
      for (const dd of dep.devices)
        if (!dd.failure) state.devices.get(dd.deviceId)?.runningConfig.push(...dd.config.split("\n").filter(Boolean));
    }
    const failed = dep.devices.some((d) => d.failure);
    const fmt = (ms: number) => new Date(ms).toISOString();
    const end = dep.startTime + dep.durationMs;
    const status = !done ? "IN_PROGRESS" : failed ? "FAILURE" : "SUCCESS";
    return {
      deploymentId: dep.id,
      deploymentName: `${t?.name ?? dep.templateId} deployment`,
      projectName: t ? (state.projects.get(t.projectId)?.name ?? "") : "",
      templateName: t?.name ?? "",
      templateVersion: t?.versions.at(-1)?.version ?? "",
      status,
      statusMessage: !done ? "Deployment in progress" : failed ? "Deployment failed on one or more devices" : "Deployment succeeded",
      startTime: fmt(dep.startTime),
      endTime: done ? fmt(end) : "",
      duration: done ? `${Math.round(dep.durationMs / 1000)} seconds` : "",
      devices: dep.devices.map((d) => ({
        deviceId: d.deviceId,
        identifier: d.identifier,
        ipAddress: d.ipAddress,
        name: d.name,
        targetType: d.targetType as "MANAGED_DEVICE_UUID",
        status: !done ? "IN_PROGRESS" : d.failure ? "FAILURE" : "SUCCESS",
        detailedStatusMessage: !done ? "Deploying" : (d.failure ?? "Provisioning success"),
        startTime: fmt(dep.startTime),
        endTime: done ? fmt(end) : "",
        duration: done ? `${Math.round(dep.durationMs / 1000)} seconds` : "",
      })),
    };
  }

  function deploy(body: Record<string, unknown>, user: string): unknown {
    const t = state.templates.get(String(body.templateId ?? ""));
    const taskId = randomUUID();
    const start = Date.now();
    if (!t) {
      state.tasks.set(taskId, {
        id: taskId,
        serviceType: "NCTP",
        startTime: start,
        username: user,
        view: () => ({
          progress: "Template deployment failed",
          isError: true,
          endTime: start,
          failureReason: `Template ${String(body.templateId)} not found`,
        }),
      });
      return { response: { taskId, url: `/api/v1/task/${taskId}` }, version: "2.0" };
    }
    const targets = Array.isArray(body.targetInfo) ? (body.targetInfo as Array<Record<string, unknown>>) : [];
    const devices: DeviceDeployment[] = targets.map((target) => {
      const d = resolveTarget(target);
      const identifier = String(target.hostName ?? target.id ?? "");
      if (!d)
        return {
          deviceId: "",
          identifier,
          ipAddress: "",
          name: identifier,
          targetType: String(target.type ?? "MANAGED_DEVICE_UUID"),
          failure: "Device not found",
          config: "",
        };
      const { text, missing } = renderTemplate(t, (target.params as Record<string, unknown> | undefined) ?? {});
      const failure = missing.length ? `Missing value for required parameters: ${missing.join(", ")}` : failureFor(t, d);
      return {
        deviceId: d.id,
        identifier,
        ipAddress: d.managementIpAddress,
        name: d.hostname,
        targetType: String(target.type ?? "MANAGED_DEVICE_UUID"),
        failure,
        config: text,
      };
    });
    const dep: FakeDeployment = {
      id: randomUUID(),
      taskId,
      templateId: t.id,
      startTime: start,
      durationMs: deploymentDuration,
      devices,
      applied: false,
    };
    if (devices.length === 0) dep.devices = [];
    state.deployments.set(dep.id, dep);
    state.tasks.set(taskId, {
      id: taskId,
      serviceType: "NCTP",
      startTime: start,
      username: user,
      view: (now) => {
        const v = deploymentView(dep, now);
        const done = v.status !== "IN_PROGRESS";
        const failed = v.status === "FAILURE" || devices.length === 0;
        return {
          progress: `Template Deployemnt Id: ${dep.id}`,
          isError: done && failed,
          ...(done ? { endTime: dep.startTime + dep.durationMs } : {}),
          ...(done && failed ? { failureReason: devices.length === 0 ? "No target devices" : String(v.statusMessage) } : {}),
        };
      },
    });
    return { response: { taskId, url: `/api/v1/task/${taskId}` }, version: "2.0" };
  }

  function commandOutput(d: FakeDevice, cmd: string): string | undefined {
    const c = cmd.trim().replace(/\s+/g, " ");
    if (/^show version$/i.test(c))
      return `Cisco IOS XE Software, Version ${d.softwareVersion}\n${d.hostname} uptime is 12 days, 0 hours\ncisco ${d.platformId} processor\nProcessor board ID ${d.serialNumber}\n`;
    if (/^show (running-config|run)$/i.test(c))
      return `hostname ${d.hostname}\n!\n${d.runningConfig.join("\n")}${d.runningConfig.length ? "\n" : ""}end\n`;
    if (/^show ip interface brief$/i.test(c))
      return `Interface              IP-Address      OK? Method Status                Protocol\nGigabitEthernet0/0/0   ${d.managementIpAddress.padEnd(15)} YES NVRAM  up                    up\n`;
    if (/^show clock$/i.test(c)) return `*${new Date().toUTCString()}\n`;
    return undefined;
  }

  function readRequest(body: Record<string, unknown>, user: string): unknown {
    const commands = Array.isArray(body.commands) ? (body.commands as string[]) : [];
    const uuids = Array.isArray(body.deviceUuids) ? (body.deviceUuids as string[]) : [];
    if (commands.length === 0 || uuids.length === 0)
      throw new ApiError(400, "NCND01400", "Invalid input: commands and deviceUuids are required");
    const taskId = randomUUID();
    const fileId = randomUUID();
    const start = Date.now();
    const output = uuids.map((uuid) => {
      const d = state.devices.get(uuid);
      const SUCCESS: Record<string, string> = {};
      const FAILURE: Record<string, string> = {};
      const BLACKLISTED: Record<string, string> = {};
      for (const cmd of commands) {
        const first = cmd.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
        if (!LEGIT_READS.includes(first)) BLACKLISTED[cmd] = "";
        else if (!d) FAILURE[cmd] = "Device not found";
        else if (d.reachabilityStatus !== "Reachable") FAILURE[cmd] = "Device unreachable";
        else {
          const out = commandOutput(d, cmd);
          if (out === undefined) FAILURE[cmd] = `${cmd}\n        ^\n% Invalid input detected at '^' marker.\n`;
          else SUCCESS[cmd] = `${d.hostname}#${cmd}\n${out}`;
        }
      }
      return { deviceUuid: uuid, commandResponses: { SUCCESS, FAILURE, BLACKLISTED } };
    });
    state.files.set(fileId, output);
    state.tasks.set(taskId, {
      id: taskId,
      serviceType: "Command Runner Service",
      startTime: start,
      username: user,
      view: (now) =>
        now - start >= commandDuration
          ? { progress: JSON.stringify({ fileId }), isError: false, endTime: start + commandDuration }
          : { progress: "CLI Runner request creation", isError: false },
    });
    return { response: { taskId, url: `/api/v1/task/${taskId}` }, version: "1.0" };
  }

  function taskView(id: string): unknown {
    const t = state.tasks.get(id);
    if (!t) throw new ApiError(404, "NCND00404", "Task not found", `No task with id ${id}`);
    const now = Date.now();
    const v = t.view(now);
    return {
      response: {
        id: t.id,
        serviceType: t.serviceType,
        startTime: t.startTime,
        lastUpdate: v.endTime ?? now,
        ...(v.endTime !== undefined ? { endTime: v.endTime } : {}),
        progress: v.progress,
        isError: v.isError,
        ...(v.failureReason ? { failureReason: v.failureReason, errorCode: "NCTP_DEPLOY_FAILED" } : {}),
        username: t.username,
        version: t.startTime,
        rootId: t.id,
        instanceTenantId: "5f3b9c2e1a0d4e0013a1b2c3",
      },
      version: "1.0",
    };
  }

  function authenticate(req: IncomingMessage): string {
    const token = req.headers["x-auth-token"];
    const t = typeof token === "string" ? tokens.get(token) : undefined;
    if (!t || t.expiresAt <= Date.now()) throw new ApiError(401, "UNAUTHORIZED", "Invalid or expired X-Auth-Token");
    return t.user;
  }

  function issueToken(req: IncomingMessage): unknown {
    const h = req.headers.authorization ?? "";
    if (!h.toLowerCase().startsWith("basic "))
      throw new ApiError(401, "UNAUTHORIZED", "Authentication has failed. Please provide valid credentials.");
    const decoded = Buffer.from(h.slice(6), "base64").toString("utf8");
    const i = decoded.indexOf(":");
    const user = decoded.slice(0, i);
    const pw = users[user];
    if (i < 1 || pw === undefined || !safeEqual(pw, decoded.slice(i + 1)))
      throw new ApiError(401, "UNAUTHORIZED", "Authentication has failed. Please provide valid credentials.");
    // The product's tokens are JWTs; the fake's are opaque, which a client must not care about.
    const token = randomBytes(32).toString("base64url");
    tokens.set(token, { user, expiresAt: Date.now() + tokenTtl });
    return { Token: token };
  }

  async function route(
    method: string,
    path: string,
    q: URLSearchParams,
    body: unknown,
    req: IncomingMessage,
  ): Promise<{ status: number; body: unknown }> {
    if (path === "/dna/system/api/v1/auth/token") {
      if (method !== "POST") throw new ApiError(405, "NCND00405", "Method not allowed");
      return { status: 200, body: issueToken(req) };
    }
    const user = authenticate(req);
    if (strict && body !== undefined) {
      const check = validateRequest(method, path, body);
      if (check.method && !check.ok) throw new ApiError(400, "NCND01400", "Invalid input request", check.errors.join("; "));
    }
    const b = (body ?? {}) as Record<string, unknown>;
    // The path parameter of a templated GET route, when `path` matches it.
    const param = (re: RegExp): string | undefined => (method === "GET" ? re.exec(path)?.[1] : undefined);
    const deviceId = param(/^\/dna\/intent\/api\/v1\/network-device\/([^/]+)$/);
    const deploymentId = param(/^\/dna\/intent\/api\/v1\/template-programmer\/template\/deploy\/status\/([^/]+)$/);
    const templateId = param(/^\/dna\/intent\/api\/v1\/template-programmer\/template\/([^/]+)$/);
    const taskId = param(/^\/dna\/intent\/api\/v1\/task\/([^/]+)$/);
    const fileId = param(/^\/dna\/intent\/api\/v1\/file\/([^/]+)$/);
    const ok = (b: unknown, status = 200) => ({ status, body: b });
    const key = `${method} ${path.startsWith(API) ? path.slice(API.length) : path}`;
    switch (key) {
      case "GET /v1/network-device":
        return ok(listDevices(q));
      case "GET /v1/device-health":
        return ok(deviceHealth(q));
      case "GET /v1/site":
        return ok(sites(q));
      case "GET /v1/site-health":
        return ok(siteHealth());
      case "GET /v1/network-health":
        return ok(networkHealth());
      case "GET /v1/issues":
        return ok(issues(q));
      case "GET /v1/template-programmer/project":
        return ok(projects(q));
      case "GET /v1/template-programmer/template":
        return ok(templates(q));
      case "PUT /v1/template-programmer/template/preview":
        return ok(preview(b));
      case "POST /v2/template-programmer/template/deploy":
        return ok(deploy(b, user), 202);
      case "GET /v1/network-device-poller/cli/legit-reads":
        return ok({ response: LEGIT_READS, version: "1.0" });
      case "POST /v1/network-device-poller/cli/read-request":
        return ok(readRequest(b, user), 202);
    }
    if (deviceId !== undefined) {
      const d = state.devices.get(deviceId);
      if (!d) throw new ApiError(404, "NCND00404", "Device not found", `No device with id ${deviceId}`);
      return ok({ response: deviceView(d), version: "1.0" });
    }
    if (deploymentId !== undefined) {
      const dep = state.deployments.get(deploymentId);
      if (!dep) throw new ApiError(404, "NCTP10404", "Deployment not found", `No deployment with id ${deploymentId}`);
      return ok(deploymentView(dep, Date.now()));
    }
    if (templateId !== undefined) return ok(templateView(template(templateId)));
    if (taskId !== undefined) return ok(taskView(taskId));
    if (fileId !== undefined) {
      const f = state.files.get(fileId);
      if (f === undefined) throw new ApiError(404, "NCFS00404", "File not found", `No file with id ${fileId}`);
      return ok(f);
    }
    throw new ApiError(404, "NCND00404", "Resource not found", `${method} ${path}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const method = req.method ?? "GET";
    const text = await readBody(req);
    const ex: Exchange = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      requestBody: undefined,
      status: 0,
      responseBody: undefined,
    };
    exchanges.push(ex);
    let result: { status: number; body: unknown };
    try {
      if (text !== "") {
        try {
          ex.requestBody = JSON.parse(text);
        } catch {
          throw new ApiError(400, "NCND01400", "Invalid input request", "The body is not valid JSON");
        }
      }
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      if (limited > 0) {
        limited--;
        throw new ApiError(429, "NCND00429", "Too many requests", `Rate limit exceeded; retry after ${retryAfter} s`);
      }
      result = await route(method, url.pathname, url.searchParams, ex.requestBody, req);
    } catch (e) {
      const a = e instanceof ApiError ? e : new ApiError(500, "NCND00500", "Internal error", e instanceof Error ? e.message : String(e));
      result = { status: a.status, body: { response: { errorCode: a.errorCode, message: a.message, detail: a.detail }, version: "1.0" } };
    }
    ex.status = result.status;
    ex.responseBody = result.body;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (result.status === 429) headers["retry-after"] = String(retryAfter);
    res.writeHead(result.status, headers).end(JSON.stringify(result.body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    state,
    exchanges,
    setDeploymentDuration(ms) {
      deploymentDuration = ms;
    },
    setFailDeployments(f) {
      failDeployments = f;
    },
    expireTokens() {
      for (const t of tokens.values()) t.expiresAt = 0;
    },
    rateLimitNext(count, seconds = 1) {
      limited = count;
      retryAfter = seconds;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Whether the schemas know this exchange's method (others are the fake's own extensions: none today). */
export const coveredBySchemas = (e: Pick<Exchange, "method" | "path">) => routeOf(e.method, e.path) !== undefined;
