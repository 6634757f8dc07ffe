// A typed client of the Cisco Catalyst Center intent API: token auth (Basic → X-Auth-Token, renewed on
// expiry or 401), timeouts, error envelopes, and the device / health / template / task / command calls.

import { retryAfterMs } from "@mcp-edge/adapter-kit";

export type CatalystCenterClientOptions = (
  | { baseUrl: string; username: string; password: string }
  /** Headers sent as is (e.g. an X-Auth-Token injected by the gateway); no token request is made. */
  | { baseUrl: string; headers: Record<string, string> }
) & {
  /** Per HTTP request (default 20 s). */
  timeoutMs?: number;
  /** Renew the token after this long even without a 401 (default 55 min; the product's tokens last 60). */
  tokenTtlMs?: number;
  /** Interval of task polling (default 250 ms). */
  pollIntervalMs?: number;
  /** Retries of a 429 answer (default 3), each after Retry-After. */
  maxRetries?: number;
  /** Longest Retry-After honoured (default 30 s); a longer one is reported instead of waited for. */
  maxRetryWaitMs?: number;
  fetch?: typeof fetch;
};

/** A refusal or failure of Catalyst Center, with its errorCode/message/detail (never a credential). */
export class CatalystCenterError extends Error {
  /** HTTP status; 0 when no answer came (timeout, connection refused). */
  readonly status: number;
  readonly errorCode: string | undefined;
  readonly detail: string | undefined;
  constructor(message: string, status: number, errorCode?: string, detail?: string) {
    super(message);
    this.name = "CatalystCenterError";
    this.status = status;
    this.errorCode = errorCode;
    this.detail = detail;
  }
}

export type Json = Record<string, unknown>;

export interface NetworkDevice extends Json {
  id: string;
  hostname: string;
  managementIpAddress: string;
  platformId: string;
  family: string;
  role: string;
  softwareType: string;
  softwareVersion: string;
  serialNumber: string;
  reachabilityStatus: string;
}

export interface DeviceQuery {
  hostname?: string | string[];
  managementIpAddress?: string | string[];
  family?: string;
  platformId?: string;
  serialNumber?: string;
  reachabilityStatus?: string;
  role?: string;
  id?: string | string[];
  /** 1-based, as the product pages. */
  offset?: number;
  limit?: number;
}

export type TargetType = "MANAGED_DEVICE_UUID" | "MANAGED_DEVICE_IP" | "MANAGED_DEVICE_HOSTNAME";

export interface DeployTarget {
  /** Device UUID (MANAGED_DEVICE_UUID) or management IP (MANAGED_DEVICE_IP). */
  id?: string;
  hostName?: string;
  type?: TargetType;
  /** Per-device params, merged over the deployment's params. */
  params?: Record<string, unknown>;
}

export interface Task {
  id: string;
  progress: string;
  isError: boolean;
  startTime?: number;
  endTime?: number;
  failureReason?: string;
  errorCode?: string;
  serviceType?: string;
  [k: string]: unknown;
}

export interface DeploymentStatus extends Json {
  deploymentId: string;
  status: string;
  statusMessage?: string;
  devices?: Array<{ deviceId?: string; name?: string; ipAddress?: string; status?: string; detailedStatusMessage?: string }>;
}

export interface CommandResult {
  deviceUuid: string;
  succeeded: Record<string, string>;
  failed: Record<string, string>;
  /** Commands the product refused to run (not read-only). */
  blacklisted: string[];
}

const UUID_IN_PROGRESS = /Deploy(?:e)?m(?:e)?nt Id:\s*([0-9a-fA-F-]{36})/;

/** The deployment id inside a deploy task's progress ("Template Deployemnt Id: <uuid>", the product's own spelling). */
export function deploymentIdOf(progress: string): string | undefined {
  const m = UUID_IN_PROGRESS.exec(progress) ?? /"deploymentId"\s*:\s*"([^"]+)"/.exec(progress);
  return m?.[1];
}

export class CatalystCenterClient {
  readonly baseUrl: string;
  readonly #credentials: { username: string; password: string } | undefined;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #tokenTtlMs: number;
  readonly #pollMs: number;
  readonly #maxRetries: number;
  readonly #maxRetryWaitMs: number;
  readonly #fetch: typeof fetch;
  #token: { value: string; expiresAt: number } | undefined;
  #pendingToken: Promise<string> | undefined;

  constructor(o: CatalystCenterClientOptions) {
    const u = new URL(o.baseUrl);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new TypeError("baseUrl must be an http(s) URL");
    this.baseUrl = u.origin;
    if ("headers" in o) {
      this.#headers = Object.fromEntries(Object.entries(o.headers).map(([k, v]) => [k.toLowerCase(), v]));
    } else {
      if (!o.username || !o.password) throw new TypeError("username and password are required");
      this.#credentials = { username: o.username, password: o.password };
      this.#headers = {};
    }
    this.#timeoutMs = o.timeoutMs ?? 20_000;
    this.#tokenTtlMs = o.tokenTtlMs ?? 55 * 60_000;
    this.#pollMs = o.pollIntervalMs ?? 250;
    this.#maxRetries = o.maxRetries ?? 3;
    this.#maxRetryWaitMs = o.maxRetryWaitMs ?? 30_000;
    this.#fetch = o.fetch ?? fetch;
  }

  async #send(method: string, url: URL, headers: Record<string, string>, body: unknown): Promise<Response> {
    try {
      return await this.#fetch(url, {
        method,
        headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        body: body !== undefined ? JSON.stringify(body) : null,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
      throw new CatalystCenterError(
        timedOut
          ? `Catalyst Center did not answer within ${this.#timeoutMs} ms (${method} ${url.pathname})`
          : `Catalyst Center is unreachable: ${e instanceof Error ? e.message : String(e)}`,
        0,
      );
    }
  }

  /** POST /dna/system/api/v1/auth/token with Basic credentials; one request in flight at a time. */
  async #authToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.expiresAt) return this.#token.value;
    this.#pendingToken ??= (async () => {
      const c = this.#credentials!;
      const basic = Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64");
      const res = await this.#send(
        "POST",
        new URL("/dna/system/api/v1/auth/token", this.baseUrl),
        { authorization: `Basic ${basic}` },
        undefined,
      );
      const text = await res.text();
      if (!res.ok) throw errorFrom(res.status, text, "POST", "/dna/system/api/v1/auth/token", "authentication failed");
      const token = (JSON.parse(text) as { Token?: unknown }).Token;
      if (typeof token !== "string" || token === "") throw new CatalystCenterError("Catalyst Center token response has no Token", 502);
      this.#token = { value: token, expiresAt: Date.now() + this.#tokenTtlMs };
      return token;
    })().finally(() => {
      this.#pendingToken = undefined;
    });
    return this.#pendingToken;
  }

  /** One API call; with credentials, a 401 renews the token once and retries. */
  async request<T = unknown>(
    method: string,
    path: string,
    o: { query?: Record<string, string | number | undefined | string[]>; body?: unknown } = {},
  ): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(o.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) url.searchParams.append(k, x);
      else url.searchParams.set(k, String(v));
    }
    let renewed = false;
    for (let retries = 0; ; ) {
      const headers = this.#credentials ? { "x-auth-token": await this.#authToken() } : this.#headers;
      const res = await this.#send(method, url, headers, o.body);
      if (res.status === 401 && this.#credentials && !renewed) {
        await res.body?.cancel();
        this.#token = undefined;
        renewed = true;
        continue;
      }
      if (res.status === 429 && retries < this.#maxRetries) {
        const wait = retryAfterMs(res.headers.get("retry-after"));
        await res.body?.cancel();
        if (wait > this.#maxRetryWaitMs)
          throw new CatalystCenterError(`Catalyst Center rate limit: retry after ${Math.ceil(wait / 1000)} s`, 429);
        retries++;
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      const text = await res.text();
      if (!res.ok) throw errorFrom(res.status, text, method, url.pathname);
      try {
        return (text === "" ? undefined : JSON.parse(text)) as T;
      } catch {
        throw new CatalystCenterError(`Catalyst Center answered ${method} ${url.pathname} with a body that is not JSON`, 502);
      }
    }
  }

  // ── devices, sites, health, issues ──────────────────────────────────────────────────────────

  async listDevices(q: DeviceQuery = {}): Promise<NetworkDevice[]> {
    const arr = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
    const r = await this.request<{ response: NetworkDevice[] }>("GET", "/dna/intent/api/v1/network-device", {
      query: {
        hostname: arr(q.hostname),
        managementIpAddress: arr(q.managementIpAddress),
        family: q.family,
        platformId: q.platformId,
        serialNumber: q.serialNumber,
        reachabilityStatus: q.reachabilityStatus,
        role: q.role,
        id: Array.isArray(q.id) ? q.id.join(",") : q.id,
        offset: q.offset,
        limit: q.limit,
      },
    });
    return r.response;
  }

  async getDevice(id: string): Promise<NetworkDevice> {
    return (await this.request<{ response: NetworkDevice }>("GET", `/dna/intent/api/v1/network-device/${encodeURIComponent(id)}`)).response;
  }

  async getDeviceHealth(
    q: { siteId?: string; health?: "POOR" | "FAIR" | "GOOD"; deviceRole?: string; limit?: number; offset?: number } = {},
  ): Promise<Json[]> {
    return (await this.request<{ response: Json[] }>("GET", "/dna/intent/api/v1/device-health", { query: { ...q } })).response;
  }

  async getSites(q: { name?: string; siteId?: string; type?: "area" | "building" | "floor" } = {}): Promise<Json[]> {
    return (await this.request<{ response: Json[] }>("GET", "/dna/intent/api/v1/site", { query: { ...q } })).response;
  }

  async getSiteHealth(): Promise<Json[]> {
    return (await this.request<{ response: Json[] }>("GET", "/dna/intent/api/v1/site-health")).response;
  }

  async getNetworkHealth(): Promise<Json> {
    return this.request<Json>("GET", "/dna/intent/api/v1/network-health");
  }

  async getIssues(q: { siteId?: string; deviceId?: string; priority?: string; issueStatus?: string } = {}): Promise<Json[]> {
    return (await this.request<{ response: Json[] }>("GET", "/dna/intent/api/v1/issues", { query: { ...q } })).response;
  }

  // ── templates and deployments ───────────────────────────────────────────────────────────────

  getProjects(q: { name?: string } = {}): Promise<Json[]> {
    return this.request<Json[]>("GET", "/dna/intent/api/v1/template-programmer/project", { query: { ...q } });
  }

  getTemplates(q: { projectId?: string; projectNames?: string[]; softwareType?: string } = {}): Promise<Json[]> {
    return this.request<Json[]>("GET", "/dna/intent/api/v1/template-programmer/template", { query: { ...q } });
  }

  getTemplate(id: string): Promise<Json> {
    return this.request<Json>("GET", `/dna/intent/api/v1/template-programmer/template/${encodeURIComponent(id)}`);
  }

  previewTemplate(o: {
    templateId: string;
    params?: Record<string, unknown>;
    deviceId?: string;
  }): Promise<{ cliPreview?: string; validationErrors?: Json; templateId?: string; deviceId?: string }> {
    return this.request("PUT", "/dna/intent/api/v1/template-programmer/template/preview", {
      body: { templateId: o.templateId, params: o.params ?? {}, ...(o.deviceId ? { deviceId: o.deviceId } : {}) },
    });
  }

  /**
   * Deploy (v2 API): answers a task; the deployment id is read from the task's progress
   * ("Template Deployemnt Id: …"), polling until it appears or `waitMs` passes.
   */
  async deployTemplate(o: {
    templateId: string;
    targets: readonly DeployTarget[];
    params?: Record<string, unknown>;
    forcePushTemplate?: boolean;
    waitMs?: number;
  }): Promise<{ deploymentId: string; taskId: string }> {
    if (o.targets.length === 0) throw new TypeError("deployTemplate needs at least one target");
    const targetInfo = o.targets.map((t) => {
      const type: TargetType = t.type ?? (t.hostName && !t.id ? "MANAGED_DEVICE_HOSTNAME" : "MANAGED_DEVICE_UUID");
      return {
        ...(t.id ? { id: t.id } : {}),
        ...(t.hostName ? { hostName: t.hostName } : {}),
        type,
        params: { ...(o.params ?? {}), ...(t.params ?? {}) },
      };
    });
    const r = await this.request<{ response?: { taskId?: string } }>("POST", "/dna/intent/api/v2/template-programmer/template/deploy", {
      body: { templateId: o.templateId, forcePushTemplate: o.forcePushTemplate ?? false, isComposite: false, targetInfo },
    });
    const taskId = r?.response?.taskId;
    if (!taskId) throw new CatalystCenterError("Catalyst Center accepted the deployment without a task id", 502);
    const deadline = Date.now() + (o.waitMs ?? 30_000);
    for (;;) {
      const task = await this.getTask(taskId);
      const deploymentId = deploymentIdOf(task.progress ?? "");
      if (deploymentId) return { deploymentId, taskId };
      if (task.isError)
        throw new CatalystCenterError(`Template deployment failed: ${task.failureReason ?? task.progress}`, 422, task.errorCode);
      if (Date.now() > deadline) throw new CatalystCenterError(`Template deployment task ${taskId} gave no deployment id in time`, 504);
      await new Promise((res) => setTimeout(res, this.#pollMs));
    }
  }

  getDeploymentStatus(deploymentId: string): Promise<DeploymentStatus> {
    return this.request<DeploymentStatus>(
      "GET",
      `/dna/intent/api/v1/template-programmer/template/deploy/status/${encodeURIComponent(deploymentId)}`,
    );
  }

  async getTask(taskId: string): Promise<Task> {
    return (await this.request<{ response: Task }>("GET", `/dna/intent/api/v1/task/${encodeURIComponent(taskId)}`)).response;
  }

  /** Poll a task until it has an end time or an error (bounded by timeoutMs). */
  async waitForTask(taskId: string, o: { timeoutMs?: number; until?: (t: Task) => boolean } = {}): Promise<Task> {
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    const done = o.until ?? ((t: Task) => t.isError || t.endTime !== undefined);
    for (;;) {
      const t = await this.getTask(taskId);
      if (done(t)) return t;
      if (Date.now() > deadline) throw new CatalystCenterError(`Task ${taskId} did not finish within ${o.timeoutMs ?? 60_000} ms`, 504);
      await new Promise((res) => setTimeout(res, this.#pollMs));
    }
  }

  // ── command runner ──────────────────────────────────────────────────────────────────────────

  async getLegitReads(): Promise<string[]> {
    return (await this.request<{ response: string[] }>("GET", "/dna/intent/api/v1/network-device-poller/cli/legit-reads")).response;
  }

  /** Run read-only commands: submit, wait for the task's file, read it. */
  async runReadOnlyCommands(o: {
    commands: string[];
    deviceUuids: string[];
    timeoutSeconds?: number;
    waitMs?: number;
  }): Promise<{ taskId: string; results: CommandResult[] }> {
    const r = await this.request<{ response?: { taskId?: string } }>("POST", "/dna/intent/api/v1/network-device-poller/cli/read-request", {
      body: { name: "mcp-read-only", commands: o.commands, deviceUuids: o.deviceUuids, timeout: o.timeoutSeconds ?? 30 },
    });
    const taskId = r?.response?.taskId;
    if (!taskId) throw new CatalystCenterError("Catalyst Center accepted the command request without a task id", 502);
    const task = await this.waitForTask(taskId, {
      timeoutMs: o.waitMs ?? 60_000,
      until: (t) => t.isError || /fileId/.test(t.progress ?? ""),
    });
    if (task.isError) throw new CatalystCenterError(`Command runner failed: ${task.failureReason ?? task.progress}`, 422, task.errorCode);
    let fileId: string | undefined;
    try {
      fileId = (JSON.parse(task.progress) as { fileId?: string }).fileId;
    } catch {
      fileId = undefined;
    }
    if (!fileId) throw new CatalystCenterError("Command runner task finished without an output file", 502);
    const file = await this.request<
      Array<{
        deviceUuid: string;
        commandResponses?: { SUCCESS?: Record<string, string>; FAILURE?: Record<string, string>; BLACKLISTED?: Record<string, string> };
      }>
    >("GET", `/dna/intent/api/v1/file/${encodeURIComponent(fileId)}`);
    return {
      taskId,
      results: (Array.isArray(file) ? file : []).map((f) => ({
        deviceUuid: f.deviceUuid,
        succeeded: f.commandResponses?.SUCCESS ?? {},
        failed: f.commandResponses?.FAILURE ?? {},
        blacklisted: Object.keys(f.commandResponses?.BLACKLISTED ?? {}),
      })),
    };
  }
}

function errorFrom(status: number, text: string, method: string, path: string, fallback?: string): CatalystCenterError {
  let code: string | undefined;
  let message: string | undefined;
  let detail: string | undefined;
  try {
    const j = JSON.parse(text) as {
      response?: { errorCode?: unknown; message?: unknown; detail?: unknown };
      error?: unknown;
      message?: unknown;
    };
    const r = j.response ?? {};
    code = typeof r.errorCode === "string" ? r.errorCode : undefined;
    message =
      typeof r.message === "string"
        ? r.message
        : typeof j.error === "string"
          ? j.error
          : typeof j.message === "string"
            ? j.message
            : undefined;
    detail = typeof r.detail === "string" && r.detail ? r.detail : undefined;
  } catch {
    message = undefined;
  }
  const what = message ?? fallback ?? (text.slice(0, 200) || `HTTP ${status}`);
  return new CatalystCenterError(`Catalyst Center ${method} ${path}: ${status} ${what}`, status, code, detail);
}
