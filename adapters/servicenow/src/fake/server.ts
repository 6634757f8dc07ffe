// HTTP side of the ServiceNow fake: the Table API (/api/now[/v2]/table/…) and /oauth_token.do on
// 127.0.0.1, answering with the product's envelopes, status codes and headers (docs/table-api.md).

import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readBoundedBody } from "@mcp-edge/adapter-kit";
import { EncodedQueryError, evaluate, parseEncodedQuery, sortRecords } from "./encoded-query.ts";
import { FakeError, type FakeOAuthClient, type FakeRecord, FakeStore, type FakeUser, glideDate, isSysId, TABLES } from "./store.ts";

export interface ServiceNowFakeOptions {
  /** Users who may authenticate (Basic or the OAuth password grant). Default: admin, itil and a read-only user. */
  users?: readonly FakeUser[];
  /** OAuth clients (application registry). Default: one client acting as "admin" for client_credentials. */
  oauthClients?: readonly FakeOAuthClient[];
  /** Access token lifetime (expires_in). Default 1799 s, as the product. */
  tokenTtlSeconds?: number;
  /** Answer this many requests (after the first `rateLimitAfter`) with 429 + Retry-After. */
  rateLimit?: { count: number; retryAfterSeconds?: number; after?: number };
  /** Listen address (default 127.0.0.1, port 0). */
  host?: string;
  port?: number;
  /** Delay every Table API answer (timeouts in tests). */
  delayMs?: number;
  /** Seed the ITSM tables with groups, CIs and a few records (default true). */
  seed?: boolean;
}

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
  /** Status of the answer, once sent. */
  status: number;
}

export interface ServiceNowFake {
  readonly url: string;
  readonly store: FakeStore;
  /** Every request the fake received, in order. */
  readonly requests: SeenRequest[];
  /** Tokens issued so far (for expiry tests). */
  readonly tokens: Map<string, { user: string; expiresAt: number; clientId: string }>;
  /** Answer the next `count` requests with 429. */
  rateLimitNext(count: number, retryAfterSeconds?: number): void;
  /** Expire every access token now. */
  expireTokens(): void;
  close(): Promise<void>;
}

export const DEFAULT_USERS: readonly FakeUser[] = [
  { user_name: "admin", password: "admin-password", name: "System Administrator", roles: ["admin", "itil"] },
  { user_name: "itil.agent", password: "itil-password", name: "Ivy Agent", email: "ivy.agent@example.com", roles: ["itil"] },
  { user_name: "reader", password: "reader-password", name: "Rita Reader", roles: [] },
];

export const DEFAULT_OAUTH_CLIENTS: readonly FakeOAuthClient[] = [
  { clientId: "mcp-adapter", clientSecret: "mcp-adapter-secret", user: "admin" },
];

function seedStore(store: FakeStore): void {
  const admin = store.findBy("sys_user", "user_name", "admin")!;
  const network = store.insert(
    "sys_user_group",
    { name: "Network", description: "Network operations", manager: admin.sys_id!, active: "true" },
    "system",
  );
  store.insert("sys_user_group", { name: "Service Desk", description: "First line support", active: "true" }, "system");
  store.insert("sys_user_group", { name: "Database", description: "Database administration", active: "true" }, "system");
  store.insert(
    "cmdb_ci",
    {
      name: "paris-core-01",
      sys_class_name: "cmdb_ci_ip_router",
      ip_address: "10.10.0.1",
      operational_status: "1",
      support_group: network.sys_id!,
    },
    "system",
  );
  store.insert(
    "cmdb_ci",
    {
      name: "paris-access-01",
      sys_class_name: "cmdb_ci_ip_switch",
      ip_address: "10.10.1.1",
      operational_status: "1",
      support_group: network.sys_id!,
    },
    "system",
  );
  store.insert(
    "cmdb_ci",
    { name: "erp-db-01", sys_class_name: "cmdb_ci_db_instance", ip_address: "10.20.0.5", operational_status: "1" },
    "system",
  );
}

const ERROR_401 = new FakeError(401, "User Not Authenticated", "Required to provide Auth information");

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage, max = 1 << 20): Promise<string> {
  const text = await readBoundedBody(req, max);
  if (text === undefined) throw new FakeError(413, "Request body too large");
  return text;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json;charset=UTF-8", ...headers }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, e: FakeError, headers: Record<string, string> = {}): void {
  send(res, e.status, { error: { message: e.message, detail: e.detail }, status: "failure" }, headers);
}

const TABLE_PATH = /^\/api\/now(?:\/v2)?\/table\/([A-Za-z0-9_]+)(?:\/([^/]+))?\/?$/;

export async function startServiceNowFake(opts: ServiceNowFakeOptions = {}): Promise<ServiceNowFake> {
  const store = new FakeStore();
  for (const u of opts.users ?? DEFAULT_USERS) store.addUser(u);
  if (opts.seed !== false) seedStore(store);
  const clients = opts.oauthClients ?? DEFAULT_OAUTH_CLIENTS;
  const ttl = opts.tokenTtlSeconds ?? 1799;
  const tokens: ServiceNowFake["tokens"] = new Map();
  const refreshTokens = new Map<string, { user: string; clientId: string }>();
  const requests: SeenRequest[] = [];
  let seenCount = 0;
  let limited = 0;
  let limitedAfter = opts.rateLimit?.after ?? 0;
  let retryAfter = opts.rateLimit?.retryAfterSeconds ?? 1;
  if (opts.rateLimit) limited = opts.rateLimit.count;
  let base = "";

  function authenticate(req: IncomingMessage): string {
    const h = req.headers.authorization ?? "";
    const [scheme, value] = [h.slice(0, h.indexOf(" ")).toLowerCase(), h.slice(h.indexOf(" ") + 1)];
    if (scheme === "basic") {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const i = decoded.indexOf(":");
      const user = decoded.slice(0, i);
      const cred = store.credentials.get(user);
      if (i > 0 && cred && safeEqual(cred.password, decoded.slice(i + 1))) return user;
      throw ERROR_401;
    }
    if (scheme === "bearer") {
      const t = tokens.get(value);
      if (t && t.expiresAt > Date.now()) return t.user;
      throw ERROR_401;
    }
    throw ERROR_401;
  }

  function oauth(body: string, res: ServerResponse): undefined {
    const form = new URLSearchParams(body);
    const deny = (): undefined => {
      send(res, 401, { error_description: "access_denied", error: "server_error" });
    };
    const client = clients.find((c) => c.clientId === form.get("client_id"));
    if (!client || !safeEqual(client.clientSecret, form.get("client_secret") ?? "")) return deny();
    const grant = form.get("grant_type");
    let user: string;
    if (grant === "password") {
      const u = form.get("username") ?? "";
      const cred = store.credentials.get(u);
      if (!cred || !safeEqual(cred.password, form.get("password") ?? "")) return deny();
      user = u;
    } else if (grant === "refresh_token") {
      const r = refreshTokens.get(form.get("refresh_token") ?? "");
      if (!r || r.clientId !== client.clientId) return deny();
      user = r.user;
    } else if (grant === "client_credentials") {
      user = client.user;
    } else {
      send(res, 400, { error_description: "access_denied", error: "unsupported_grant_type" });
      return;
    }
    const access = randomBytes(32).toString("base64url");
    tokens.set(access, { user, expiresAt: Date.now() + ttl * 1000, clientId: client.clientId });
    const out: Record<string, unknown> = { access_token: access, scope: "useraccount", token_type: "Bearer", expires_in: ttl };
    if (grant !== "client_credentials") {
      const refresh = randomBytes(32).toString("base64url");
      refreshTokens.set(refresh, { user, clientId: client.clientId });
      out.refresh_token = refresh;
    }
    send(res, 200, out, { "cache-control": "no-store" });
  }

  function render(table: string, rec: FakeRecord, q: URLSearchParams): Record<string, unknown> {
    const def = TABLES[table]!;
    const mode = q.get("sysparm_display_value") ?? "false";
    const noLink = q.get("sysparm_exclude_reference_link") === "true";
    const fields = q
      .get("sysparm_fields")
      ?.split(",")
      .map((f) => f.trim())
      .filter(Boolean);
    const out: Record<string, unknown> = {};
    const keys = [...Object.keys(rec), ...(def.journal ?? [])];
    for (const k of fields ?? keys) {
      if (def.journal?.includes(k)) {
        const text = store
          .journal(table, rec.sys_id!, k)
          .map(
            (j) =>
              `${j.sys_created_on} - ${j.sys_created_by} (${k === "work_notes" ? "Work notes" : "Additional comments"})\n${j.value}\n\n`,
          )
          .join("");
        out[k] = mode === "false" ? "" : mode === "true" ? text : { display_value: text, value: "" };
        continue;
      }
      const v = rec[k] ?? "";
      const ref = def.references[k];
      if (ref && v !== "") {
        const link = `${base}/api/now/table/${ref}/${v}`;
        const target = store.tables.get(ref)?.get(v);
        const display = target?.[TABLES[ref]!.displayField] ?? "";
        if (mode === "false") out[k] = noLink ? v : { link, value: v };
        else if (mode === "true") out[k] = noLink ? display : { display_value: display, link };
        else out[k] = noLink ? { display_value: display, value: v } : { display_value: display, link, value: v };
        continue;
      }
      const label = def.choices[k]?.[v] ?? v;
      out[k] = mode === "false" ? v : mode === "true" ? label : { display_value: label, value: v };
    }
    return out;
  }

  /** Field values as strings; display values resolved to stored values on request or for non-sys_id references. */
  function toStrings(table: string, body: unknown, q: URLSearchParams): FakeRecord {
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new FakeError(400, "Exception while reading request", "The payload is not valid JSON.");
    const def = TABLES[table]!;
    const byDisplay = q.get("sysparm_input_display_value") === "true";
    const out: FakeRecord = {};
    for (const [k, raw] of Object.entries(body as Record<string, unknown>)) {
      if (!/^[a-z][a-z0-9_]*$/.test(k)) continue; // unknown shapes are ignored, like unknown fields
      let v = raw === null ? "" : typeof raw === "object" ? String((raw as { value?: unknown }).value ?? "") : String(raw);
      const ref = def.references[k];
      if (ref && v !== "" && (byDisplay || !isSysId(v))) {
        const target =
          store.findBy(ref, TABLES[ref]!.displayField, v) ?? (ref === "sys_user" ? store.findBy(ref, "user_name", v) : undefined);
        if (target) v = target.sys_id!;
      }
      const choices = def.choices[k];
      if (byDisplay && choices) {
        const hit = Object.entries(choices).find(([, label]) => label === v);
        if (hit) v = hit[0];
      }
      out[k] = v;
    }
    return out;
  }

  function canWrite(table: string, user: string): boolean {
    const roles = store.rolesOf(user);
    if (roles.includes("admin")) return true;
    return TABLES[table]!.writeRole === "itil" && roles.includes("itil");
  }

  function query(table: string, q: URLSearchParams, res: ServerResponse, path: string): void {
    let parsed: ReturnType<typeof parseEncodedQuery>;
    try {
      parsed = parseEncodedQuery(q.get("sysparm_query") ?? "");
    } catch (e) {
      if (e instanceof EncodedQueryError) throw new FakeError(400, e.message);
      throw e;
    }
    const rows = [...store.table(table).values()];
    const def = TABLES[table]!;
    const read = (r: FakeRecord, field: string): string => {
      const dot = field.indexOf(".");
      if (dot < 0) return r[field] ?? "";
      const ref = def.references[field.slice(0, dot)];
      const target = ref ? store.tables.get(ref)?.get(r[field.slice(0, dot)] ?? "") : undefined;
      return target?.[field.slice(dot + 1)] ?? "";
    };
    const hits = sortRecords(
      rows.filter((r) => evaluate(parsed, (f) => read(r, f))),
      parsed,
      read,
    );
    const limitRaw = q.get("sysparm_limit");
    const offsetRaw = q.get("sysparm_offset");
    const limit = limitRaw === null ? 10_000 : Number(limitRaw);
    const offset = offsetRaw === null ? 0 : Number(offsetRaw);
    if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(offset) || offset < 0)
      throw new FakeError(400, "Invalid pagination", "sysparm_limit must be a positive integer and sysparm_offset a non-negative integer");
    const page = hits.slice(offset, offset + limit);
    const headers: Record<string, string> = {};
    if (q.get("sysparm_no_count") !== "true") headers["x-total-count"] = String(hits.length);
    if (q.get("sysparm_suppress_pagination_header") !== "true") {
      const at = (o: number) => {
        const p = new URLSearchParams(q);
        p.set("sysparm_limit", String(limit));
        p.set("sysparm_offset", String(o));
        return `<${base}${path}?${p.toString()}>`;
      };
      const last = hits.length === 0 ? 0 : Math.floor((hits.length - 1) / limit) * limit;
      const links = [`${at(0)};rel="first"`];
      if (offset > 0) links.push(`${at(Math.max(0, offset - limit))};rel="prev"`);
      if (offset + limit < hits.length) links.push(`${at(offset + limit)};rel="next"`);
      links.push(`${at(last)};rel="last"`);
      headers.link = links.join(",");
    }
    send(res, 200, { result: page.map((r) => render(table, r, q)) }, headers);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const seen: SeenRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, status: 0 };
    requests.push(seen);
    res.on("finish", () => {
      seen.status = res.statusCode;
    });
    const url = new URL(req.url ?? "/", base);
    seenCount++;
    if (limited > 0 && seenCount > limitedAfter) {
      limited--;
      return sendError(res, new FakeError(429, "Rate limit exceeded", "Too many requests; retry later"), {
        "retry-after": String(retryAfter),
      });
    }
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    if (url.pathname === "/oauth_token.do") {
      if (req.method !== "POST") return sendError(res, new FakeError(405, "Method not allowed"));
      return oauth(body, res);
    }
    const m = TABLE_PATH.exec(url.pathname);
    if (!m) return sendError(res, new FakeError(400, "Requested URI does not represent any resource", url.pathname));
    const user = authenticate(req);
    const table = m[1]!;
    const sysId = m[2];
    store.table(table); // 400 Invalid table
    const q = url.searchParams;
    const method = req.method ?? "GET";
    if (method === "GET" && !sysId) return query(table, q, res, url.pathname);
    if (method === "GET") {
      const rec = store.table(table).get(sysId!);
      if (!rec) throw new FakeError(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval");
      return send(res, 200, { result: render(table, rec, q) });
    }
    if (!["POST", "PUT", "PATCH", "DELETE"].includes(method))
      throw new FakeError(405, "Method not Supported", `${method} is not supported`);
    if ((method === "POST") !== !sysId) throw new FakeError(400, "Requested URI does not represent any resource", url.pathname);
    if (!canWrite(table, user)) {
      const verb = method === "POST" ? "Insert" : method === "DELETE" ? "Delete" : "Update";
      throw new FakeError(403, "Operation Failed", `ACL Exception ${verb} Failed due to security constraints`);
    }
    if (method === "DELETE") {
      store.delete(table, sysId!);
      return send(res, 204, undefined);
    }
    let parsed: unknown;
    try {
      parsed = body === "" ? undefined : JSON.parse(body);
    } catch {
      throw new FakeError(400, "Exception while reading request", "The payload is not valid JSON.");
    }
    const fields = toStrings(table, parsed, q);
    if (method === "POST")
      return send(
        res,
        201,
        { result: render(table, store.insert(table, fields, user), q) },
        { location: `${base}/api/now/table/${table}` },
      );
    return send(res, 200, { result: render(table, store.update(table, sysId!, fields, user), q) });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof FakeError) return sendError(res, e);
      sendError(res, new FakeError(500, "Internal error", e instanceof Error ? e.message : String(e)));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    store,
    requests,
    tokens,
    rateLimitNext(count, seconds = 1) {
      limited = count;
      limitedAfter = seenCount;
      retryAfter = seconds;
    },
    expireTokens() {
      for (const t of tokens.values()) t.expiresAt = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export { glideDate };
