// A typed client of the ServiceNow Table API for the ITSM tables: one request path with auth,
// timeouts, 429 + Retry-After and error envelopes, then incident / change / problem / CMDB / user helpers.

import { retryAfterMs } from "@mcp-edge/adapter-kit";
import { type Authenticator, createAuthenticator, type ServiceNowAuth, ServiceNowAuthError } from "./auth.ts";

// Kept in this module's exports: callers imported it from here before it moved to the kit.
export { retryAfterMs };

/** A record as the Table API returns it with sysparm_exclude_reference_link=true: every value a string. */
export type ServiceNowRecord = Record<string, string>;

/** Fields to write; numbers and booleans are sent as ServiceNow stores them (strings). */
export type RecordFields = Record<string, string | number | boolean>;

export interface ServiceNowClientOptions {
  /** Instance URL, e.g. https://example.service-now.com */
  baseUrl: string;
  auth: ServiceNowAuth;
  /** Per HTTP request (default 15 s). */
  timeoutMs?: number;
  /** Retries of a 429 answer (default 3); each waits Retry-After, capped by maxRetryWaitMs. */
  maxRetries?: number;
  /** Longest Retry-After honoured (default 30 s); a longer one is reported instead of waited for. */
  maxRetryWaitMs?: number;
  /** Page size when a query follows X-Total-Count (default 100). */
  pageSize?: number;
  fetch?: typeof fetch;
}

/** A refusal or failure of the instance, with the envelope's message and detail (never a credential). */
export class ServiceNowError extends Error {
  /** HTTP status; 0 when no answer came (timeout, connection refused). */
  readonly status: number;
  readonly detail: string | undefined;
  constructor(message: string, status: number, detail?: string) {
    super(message);
    this.name = "ServiceNowError";
    this.status = status;
    this.detail = detail;
  }
}

export interface QueryOptions {
  /** Encoded query (sysparm_query). */
  query?: string;
  limit?: number;
  offset?: number;
  fields?: readonly string[];
}

export interface QueryPage {
  records: ServiceNowRecord[];
  /** X-Total-Count: matches in all pages. */
  total: number;
}

export const INCIDENT_STATE = { new: "1", in_progress: "2", on_hold: "3", resolved: "6", closed: "7", canceled: "8" } as const;
export const CHANGE_STATE = {
  new: "-5",
  assess: "-4",
  authorize: "-3",
  scheduled: "-2",
  implement: "-1",
  review: "0",
  closed: "3",
  canceled: "4",
} as const;
export type ChangeStateName = keyof typeof CHANGE_STATE;

const SYS_ID = /^[0-9a-f]{32}$/;

/** Reference fields of the ITSM tables that callers name rather than give as sys_ids, and their tables. */
export const REFERENCE_FIELDS = {
  caller_id: "sys_user",
  assigned_to: "sys_user",
  requested_by: "sys_user",
  opened_by: "sys_user",
  assignment_group: "sys_user_group",
  support_group: "sys_user_group",
  cmdb_ci: "cmdb_ci",
} as const;
const NUMBER = /^[A-Z]{2,6}\d{4,}$/;

/** Encoded-query values cannot contain `^` (the term separator); refuse rather than let a value add terms. */
export function queryValue(v: string): string {
  if (v.includes("^") || /[\r\n]/.test(v)) throw new TypeError(`a query value may not contain '^' or line breaks: ${JSON.stringify(v)}`);
  return v;
}

function toStrings(fields: RecordFields): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
}

export class ServiceNowClient {
  readonly baseUrl: string;
  readonly #auth: Authenticator;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #maxRetryWaitMs: number;
  readonly #pageSize: number;
  readonly #fetch: typeof fetch;

  constructor(o: ServiceNowClientOptions) {
    const u = new URL(o.baseUrl);
    if (u.protocol !== "https:" && u.protocol !== "http:") throw new TypeError("baseUrl must be an http(s) URL");
    this.baseUrl = u.origin;
    this.#timeoutMs = o.timeoutMs ?? 15_000;
    this.#maxRetries = o.maxRetries ?? 3;
    this.#maxRetryWaitMs = o.maxRetryWaitMs ?? 30_000;
    this.#pageSize = o.pageSize ?? 100;
    this.#fetch = o.fetch ?? fetch;
    this.#auth = createAuthenticator(o.auth, { baseUrl: this.baseUrl, timeoutMs: this.#timeoutMs, fetch: this.#fetch });
  }

  /** One Table API call: auth headers, timeout, 429 retries, one re-authentication after a 401 (OAuth). */
  async request(
    method: string,
    path: string,
    o: { query?: Record<string, string>; body?: unknown } = {},
  ): Promise<{ status: number; headers: Headers; body: unknown }> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
    let retries = 0;
    let reauthed = false;
    for (;;) {
      let auth: Record<string, string>;
      try {
        auth = await this.#auth.headers();
      } catch (e) {
        if (e instanceof ServiceNowAuthError) throw new ServiceNowError(e.message, e.status === 0 ? 0 : 401);
        throw e;
      }
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers: { accept: "application/json", ...(o.body !== undefined ? { "content-type": "application/json" } : {}), ...auth },
          body: o.body !== undefined ? JSON.stringify(o.body) : null,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (e) {
        const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
        throw new ServiceNowError(
          timedOut
            ? `ServiceNow did not answer within ${this.#timeoutMs} ms (${method} ${url.pathname})`
            : `ServiceNow is unreachable: ${e instanceof Error ? e.message : String(e)}`,
          0,
        );
      }
      if (res.status === 429 && retries < this.#maxRetries) {
        const wait = retryAfterMs(res.headers.get("retry-after"));
        await res.body?.cancel();
        if (wait > this.#maxRetryWaitMs) throw new ServiceNowError(`ServiceNow rate limit: retry after ${Math.ceil(wait / 1000)} s`, 429);
        retries++;
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      if (res.status === 401 && this.#auth.renewable && !reauthed) {
        await res.body?.cancel();
        this.#auth.invalidate();
        reauthed = true;
        continue;
      }
      const text = res.status === 204 ? "" : await res.text();
      let body: unknown;
      try {
        body = text === "" ? undefined : JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (!res.ok) throw errorFrom(res.status, body, text, method, url.pathname);
      return { status: res.status, headers: res.headers, body };
    }
  }

  #tablePath(table: string, sysId?: string): string {
    if (!/^[a-z0-9_]+$/.test(table)) throw new TypeError(`not a table name: ${table}`);
    if (sysId !== undefined && !SYS_ID.test(sysId)) throw new TypeError(`not a sys_id: ${sysId}`);
    return `/api/now/table/${table}${sysId ? `/${sysId}` : ""}`;
  }

  #readParams(fields?: readonly string[]): Record<string, string> {
    return {
      sysparm_exclude_reference_link: "true",
      sysparm_display_value: "false",
      ...(fields?.length ? { sysparm_fields: fields.join(",") } : {}),
    };
  }

  /** One page of a query, with the total from X-Total-Count. */
  async query(table: string, o: QueryOptions = {}): Promise<QueryPage> {
    const r = await this.request("GET", this.#tablePath(table), {
      query: {
        ...this.#readParams(o.fields),
        sysparm_query: o.query ?? "",
        sysparm_limit: String(o.limit ?? this.#pageSize),
        sysparm_offset: String(o.offset ?? 0),
      },
    });
    const records = resultOf(r.body, true) as ServiceNowRecord[];
    const total = Number(r.headers.get("x-total-count") ?? records.length);
    return { records, total: Number.isFinite(total) ? total : records.length };
  }

  /** Every match (paged by X-Total-Count: offset += limit until offset ≥ total), up to `max` records. */
  async queryAll(table: string, o: Omit<QueryOptions, "offset" | "limit"> & { max?: number } = {}): Promise<QueryPage> {
    const max = o.max ?? 1000;
    const out: ServiceNowRecord[] = [];
    let offset = 0;
    let total = 0;
    // Bounded: at most max/pageSize + 1 pages, whatever the instance reports.
    for (let pages = 0; pages <= Math.ceil(max / this.#pageSize); pages++) {
      const page = await this.query(table, { ...o, offset, limit: Math.min(this.#pageSize, max - out.length) });
      total = page.total;
      out.push(...page.records);
      offset += page.records.length;
      if (page.records.length === 0 || offset >= total || out.length >= max) break;
    }
    return { records: out, total };
  }

  async get(table: string, sysId: string, fields?: readonly string[]): Promise<ServiceNowRecord> {
    const r = await this.request("GET", this.#tablePath(table, sysId), { query: this.#readParams(fields) });
    return resultOf(r.body, false) as ServiceNowRecord;
  }

  /** A record by number (INC0010001) or sys_id; undefined when there is none. */
  async find(table: string, numberOrSysId: string): Promise<ServiceNowRecord | undefined> {
    if (SYS_ID.test(numberOrSysId)) {
      try {
        return await this.get(table, numberOrSysId);
      } catch (e) {
        if (e instanceof ServiceNowError && e.status === 404) return undefined;
        throw e;
      }
    }
    if (!NUMBER.test(numberOrSysId)) throw new TypeError(`not a record number or sys_id: ${numberOrSysId}`);
    const page = await this.query(table, { query: `number=${numberOrSysId}`, limit: 1 });
    return page.records[0];
  }

  async #require(table: string, numberOrSysId: string): Promise<ServiceNowRecord> {
    const r = await this.find(table, numberOrSysId);
    if (!r) throw new ServiceNowError(`No ${table} record ${numberOrSysId}`, 404, "No Record found");
    return r;
  }

  async create(table: string, fields: RecordFields): Promise<ServiceNowRecord> {
    const r = await this.request("POST", this.#tablePath(table), { query: this.#readParams(), body: toStrings(fields) });
    return resultOf(r.body, false) as ServiceNowRecord;
  }

  /** PATCH: only the given fields change. */
  async update(table: string, sysId: string, fields: RecordFields): Promise<ServiceNowRecord> {
    const r = await this.request("PATCH", this.#tablePath(table, sysId), { query: this.#readParams(), body: toStrings(fields) });
    return resultOf(r.body, false) as ServiceNowRecord;
  }

  async delete(table: string, sysId: string): Promise<void> {
    await this.request("DELETE", this.#tablePath(table, sysId));
  }

  /** Work notes are internal; comments are visible to the caller. Both are journal fields. */
  async addWorkNote(table: string, sysId: string, text: string): Promise<ServiceNowRecord> {
    return this.update(table, sysId, { work_notes: text });
  }

  async addComment(table: string, sysId: string, text: string): Promise<ServiceNowRecord> {
    return this.update(table, sysId, { comments: text });
  }

  /** Journal entries (work_notes / comments) of a record, newest first. */
  async journal(table: string, sysId: string, element?: "work_notes" | "comments"): Promise<ServiceNowRecord[]> {
    const q = `name=${queryValue(table)}^element_id=${sysId}${element ? `^element=${element}` : ""}^ORDERBYDESCsys_created_on`;
    return (await this.queryAll("sys_journal_field", { query: q, max: 200 })).records;
  }

  // ── incidents ───────────────────────────────────────────────────────────────────────────────

  createIncident(fields: RecordFields): Promise<ServiceNowRecord> {
    return this.create("incident", fields);
  }

  getIncident(numberOrSysId: string): Promise<ServiceNowRecord | undefined> {
    return this.find("incident", numberOrSysId);
  }

  /** Incidents by state, assignment group, caller and free text (short description or description), newest first. */
  async queryIncidents(
    f: { state?: string; assignmentGroup?: string; caller?: string; text?: string; active?: boolean; limit?: number; offset?: number } = {},
  ): Promise<QueryPage> {
    const terms: string[] = [];
    if (f.state) terms.push(`state=${queryValue(f.state)}`);
    if (f.active !== undefined) terms.push(`active=${f.active}`);
    if (f.assignmentGroup)
      terms.push(
        SYS_ID.test(f.assignmentGroup) ? `assignment_group=${f.assignmentGroup}` : `assignment_group.name=${queryValue(f.assignmentGroup)}`,
      );
    if (f.caller)
      terms.push(
        SYS_ID.test(f.caller)
          ? `caller_id=${f.caller}`
          : `caller_id.user_name=${queryValue(f.caller)}^ORcaller_id.name=${queryValue(f.caller)}`,
      );
    if (f.text) terms.push(`short_descriptionLIKE${queryValue(f.text)}^ORdescriptionLIKE${queryValue(f.text)}`);
    terms.push("ORDERBYDESCsys_created_on");
    return this.query("incident", {
      query: terms.join("^"),
      ...(f.limit !== undefined ? { limit: f.limit } : {}),
      ...(f.offset !== undefined ? { offset: f.offset } : {}),
    });
  }

  updateIncident(sysId: string, fields: RecordFields): Promise<ServiceNowRecord> {
    return this.update("incident", sysId, fields);
  }

  resolveIncident(sysId: string, o: { closeCode: string; closeNotes: string }): Promise<ServiceNowRecord> {
    return this.update("incident", sysId, { state: INCIDENT_STATE.resolved, close_code: o.closeCode, close_notes: o.closeNotes });
  }

  /** Close (state 7); close code and notes are required unless the incident already has them from resolving. */
  closeIncident(sysId: string, o: { closeCode?: string; closeNotes?: string } = {}): Promise<ServiceNowRecord> {
    return this.update("incident", sysId, {
      state: INCIDENT_STATE.closed,
      ...(o.closeCode ? { close_code: o.closeCode } : {}),
      ...(o.closeNotes ? { close_notes: o.closeNotes } : {}),
    });
  }

  // ── change requests ─────────────────────────────────────────────────────────────────────────

  /** A normal change unless `fields.type` says standard or emergency. */
  createChange(fields: RecordFields): Promise<ServiceNowRecord> {
    return this.create("change_request", { type: "normal", ...fields });
  }

  getChange(numberOrSysId: string): Promise<ServiceNowRecord | undefined> {
    return this.find("change_request", numberOrSysId);
  }

  updateChange(sysId: string, fields: RecordFields): Promise<ServiceNowRecord> {
    return this.update("change_request", sysId, fields);
  }

  /** Move to a named or numeric state (the instance enforces the state model). */
  moveChange(sysId: string, state: ChangeStateName | string, fields: RecordFields = {}): Promise<ServiceNowRecord> {
    const value = state in CHANGE_STATE ? CHANGE_STATE[state as ChangeStateName] : state;
    return this.update("change_request", sysId, { ...fields, state: value });
  }

  /** Close with a close code (successful, successful_issues, unsuccessful) and notes; `state` defaults to Closed (3). */
  closeChange(sysId: string, o: { closeCode: string; closeNotes: string; state?: string }): Promise<ServiceNowRecord> {
    return this.update("change_request", sysId, {
      state: o.state ?? CHANGE_STATE.closed,
      close_code: o.closeCode,
      close_notes: o.closeNotes,
    });
  }

  async listChangesAwaitingApproval(o: { limit?: number; offset?: number } = {}): Promise<QueryPage> {
    return this.query("change_request", { query: "approval=requested^active=true^ORDERBYsys_created_on", ...o });
  }

  // ── problems, CMDB, users and groups ───────────────────────────────────────────────────────

  createProblem(fields: RecordFields): Promise<ServiceNowRecord> {
    return this.create("problem", fields);
  }

  getProblem(numberOrSysId: string): Promise<ServiceNowRecord | undefined> {
    return this.find("problem", numberOrSysId);
  }

  updateProblem(sysId: string, fields: RecordFields): Promise<ServiceNowRecord> {
    return this.update("problem", sysId, fields);
  }

  async queryProblems(f: { state?: string; text?: string; limit?: number; offset?: number } = {}): Promise<QueryPage> {
    const terms: string[] = [];
    if (f.state) terms.push(`state=${queryValue(f.state)}`);
    if (f.text) terms.push(`short_descriptionLIKE${queryValue(f.text)}^ORdescriptionLIKE${queryValue(f.text)}`);
    terms.push("ORDERBYDESCsys_created_on");
    return this.query("problem", {
      query: terms.join("^"),
      ...(f.limit !== undefined ? { limit: f.limit } : {}),
      ...(f.offset !== undefined ? { offset: f.offset } : {}),
    });
  }

  /** CIs whose name contains `name`, optionally of one class or with one IP address. */
  async findConfigurationItems(f: { name?: string; className?: string; ipAddress?: string; limit?: number } = {}): Promise<QueryPage> {
    const terms: string[] = [];
    if (f.name) terms.push(`nameLIKE${queryValue(f.name)}`);
    if (f.className) terms.push(`sys_class_name=${queryValue(f.className)}`);
    if (f.ipAddress) terms.push(`ip_address=${queryValue(f.ipAddress)}`);
    terms.push("ORDERBYname");
    return this.query("cmdb_ci", { query: terms.join("^"), limit: f.limit ?? 50 });
  }

  /** Users by user name, name or email (contains). */
  async findUsers(text: string, limit = 20): Promise<QueryPage> {
    const v = queryValue(text);
    return this.query("sys_user", {
      query: `user_nameLIKE${v}^ORnameLIKE${v}^ORemailLIKE${v}^ORDERBYuser_name`,
      limit,
      fields: ["sys_id", "user_name", "name", "email", "active"],
    });
  }

  async findGroups(text: string, limit = 20): Promise<QueryPage> {
    return this.query("sys_user_group", {
      query: `nameLIKE${queryValue(text)}^ORDERBYname`,
      limit,
      fields: ["sys_id", "name", "description", "manager", "active"],
    });
  }

  /**
   * The sys_id a reference field should hold for `value`: a sys_id as is, otherwise the one record of
   * `table` whose name (or user name, for users) is `value`. None or several is a 400 ServiceNowError,
   * so a write never stores a name where the instance expects a sys_id.
   */
  async resolveReference(table: "sys_user" | "sys_user_group" | "cmdb_ci", value: string): Promise<string> {
    if (SYS_ID.test(value)) return value;
    const v = queryValue(value);
    const q = table === "sys_user" ? `user_name=${v}^ORname=${v}^ORemail=${v}` : `name=${v}`;
    const page = await this.query(table, { query: q, limit: 2, fields: ["sys_id"] });
    if (page.records.length === 1) return page.records[0]!.sys_id!;
    throw new ServiceNowError(
      page.records.length === 0 ? `No ${table} record named ${value}` : `${value} names several ${table} records; give its sys_id`,
      400,
    );
  }

  /** `fields` with each known reference field (caller_id, assigned_to, assignment_group, cmdb_ci …) resolved to a sys_id. */
  async withReferences(fields: RecordFields): Promise<RecordFields> {
    const out: RecordFields = { ...fields };
    for (const [field, table] of Object.entries(REFERENCE_FIELDS)) {
      const v = out[field];
      if (typeof v === "string" && v !== "") out[field] = await this.resolveReference(table, v);
    }
    return out;
  }

  /** A record that must exist (404 ServiceNowError otherwise). */
  require(table: string, numberOrSysId: string): Promise<ServiceNowRecord> {
    return this.#require(table, numberOrSysId);
  }
}

function resultOf(body: unknown, many: boolean): unknown {
  const result = (body as { result?: unknown } | undefined)?.result;
  if (many ? !Array.isArray(result) : typeof result !== "object" || result === null || Array.isArray(result))
    throw new ServiceNowError("ServiceNow answered without the expected result envelope", 502);
  return result;
}

function errorFrom(status: number, body: unknown, text: string, method: string, path: string): ServiceNowError {
  const err = (body as { error?: { message?: unknown; detail?: unknown } } | undefined)?.error;
  const message = typeof err?.message === "string" && err.message ? err.message : text.slice(0, 200) || `HTTP ${status}`;
  const detail = typeof err?.detail === "string" && err.detail ? err.detail : undefined;
  return new ServiceNowError(`ServiceNow ${method} ${path}: ${status} ${message}${detail ? `: ${detail.trim()}` : ""}`, status, detail);
}
