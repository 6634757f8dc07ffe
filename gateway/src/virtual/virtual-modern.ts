// 2026-07-28 (stateless) callers of a virtual server: one SDK 2.x server per request whose handlers call the
// members' own routes through 2025-era member sessions held per (member, caller credential), bounded.

import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { createMcpHandler, Server as ModernServer, ProtocolError } from "@modelcontextprotocol/server";
import { LRUCache } from "lru-cache";
import type { VirtualServerConfig } from "../config/schema-virtual.ts";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { isDown, MemberLink } from "./member-link.ts";
import { NameMap } from "./names.ts";

const MAX_PAGES = 100;

export interface ModernVirtualOptions {
  readonly name: string;
  readonly config: VirtualServerConfig;
  readonly gatewayUrl: () => string;
  readonly passed: readonly string[];
  readonly logger: Logger;
  /** Members reported down (shared with the 2025-era sessions of the same virtual server). */
  readonly reported: Set<string>;
  readonly version: string;
}

interface Caller {
  readonly headers: Record<string, string>;
  readonly key: string;
}

function gatewayError(code: ConstructorParameters<typeof GatewayError>[0], detail: string, data: Record<string, unknown>): ProtocolError {
  const g = new GatewayError(code, detail).withData(data).toRpcError();
  return new ProtocolError(g.code, g.message, g.data);
}

export class ModernVirtual {
  readonly #o: ModernVirtualOptions;
  readonly #handler: ReturnType<typeof createMcpHandler>;
  /**
   * (member, credential) → a 2025-era session on the member route (any member transport serves it; the
   * gateway binds it to the caller's principal). The caller is stateless; its member sessions are not.
   */
  readonly #clients: LRUCache<string, MemberLink>;
  /** Credential → exposed names seen in its lists (shortened names map back only through them). */
  readonly #names: LRUCache<string, { tools: NameMap; prompts: NameMap }>;
  readonly #downUntil = new Map<string, number>();

  constructor(o: ModernVirtualOptions) {
    this.#o = o;
    const ttl = o.config.idleSeconds * 1000;
    this.#clients = new LRUCache({
      max: o.config.maxSessions * o.config.servers.length,
      ttl,
      updateAgeOnGet: true,
      dispose: (l) => void l.close(),
    });
    this.#names = new LRUCache({ max: o.config.maxSessions, ttl, updateAgeOnGet: true });
    this.#handler = createMcpHandler((ctx) => this.#server(this.#caller(ctx.requestInfo?.headers)), { legacy: "reject" });
  }

  #caller(h: Headers | undefined): Caller {
    const headers: Record<string, string> = {};
    for (const k of this.#o.passed) {
      const v = h?.get(k);
      if (v) headers[k] = v;
    }
    const key = createHash("sha256")
      .update(headers.authorization ?? "")
      .update("\n")
      .update(this.#o.passed.map((k) => (k === "authorization" ? "" : (headers[k] ?? ""))).join("\n"))
      .digest("base64url");
    return { headers, key };
  }

  #namesOf(caller: Caller): { tools: NameMap; prompts: NameMap } {
    let n = this.#names.get(caller.key);
    if (!n) {
      const { servers, separator } = this.#o.config;
      n = { tools: new NameMap(servers, separator), prompts: new NameMap(servers, separator) };
      this.#names.set(caller.key, n);
    }
    return n;
  }

  #member(member: string, caller: Caller): MemberLink {
    const key = `${member}\n${caller.key}`;
    let l = this.#clients.get(key);
    if (!l) {
      // No server→client requests and no notifications: a 2026-07-28 caller has no stream for them here.
      l = new MemberLink({
        member,
        gatewayUrl: this.#o.gatewayUrl,
        headers: () => caller.headers,
        capabilities: {},
        version: this.#o.version,
        wire: () => {},
      });
      this.#clients.set(key, l);
    }
    return l;
  }

  /** Run `f` on `member`; an outage marks it down (reported once) and becomes VIRTUAL_BACKEND_UNAVAILABLE. */
  async #on<T>(member: string, caller: Caller, f: (c: Client) => Promise<T>): Promise<T> {
    const until = this.#downUntil.get(member);
    if (until !== undefined && Date.now() < until) throw gatewayError("VIRTUAL_BACKEND_UNAVAILABLE", `"${member}"`, { member });
    const link = this.#member(member, caller);
    try {
      const r = await f(await link.client());
      this.#downUntil.delete(member);
      if (this.#o.reported.delete(member))
        this.#o.logger.info("virtual server member is back", { "mcp.virtual": this.#o.name, "mcp.server": member });
      return r;
    } catch (e) {
      const failure = e instanceof McpError ? undefined : link.lastFailure;
      if (isDown(e, failure)) {
        link.drop();
        this.#downUntil.set(member, Date.now() + this.#o.config.retryDownMs);
        if (!this.#o.reported.has(member)) {
          this.#o.reported.add(member);
          this.#o.logger.warn("virtual server member is down; the other members keep working", {
            "mcp.virtual": this.#o.name,
            "mcp.server": member,
            "error.message": (e as Error)?.message?.slice(0, 256),
          });
        }
        throw gatewayError("VIRTUAL_BACKEND_UNAVAILABLE", `"${member}"`, { member });
      }
      // The member's own answer (a refusal of its chain, a tool error): passed on with its code.
      if (e instanceof McpError) throw new ProtocolError(e.code, e.message.replace(/^MCP error -?\d+: /, ""), e.data);
      throw new ProtocolError(failure?.rpcCode ?? -32603, failure?.message ?? "member request failed", { member });
    }
  }

  async #collect<T>(caller: Caller, page: (c: Client, cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string }>) {
    const out = await Promise.all(
      this.#o.config.servers.map(async (member) => {
        try {
          const items = await this.#on(member, caller, async (c) => {
            const all: T[] = [];
            let cursor: string | undefined;
            for (let i = 0; i < MAX_PAGES; i++) {
              const r = await page(c, cursor);
              all.push(...r.items);
              cursor = r.nextCursor;
              if (!cursor) break;
            }
            return all;
          });
          return { member, items };
        } catch {
          return undefined; // down (reported) or not permitted for this caller: the others still answer
        }
      }),
    );
    return out.filter((x): x is { member: string; items: T[] } => x !== undefined);
  }

  #server(caller: Caller): ModernServer {
    const s = new ModernServer(
      { name: this.#o.name, version: this.#o.version },
      { capabilities: { tools: {}, prompts: {}, resources: {} }, instructions: this.#o.config.description },
    );
    const names = this.#namesOf(caller);
    s.setRequestHandler("tools/list", async () => {
      const lists = await this.#collect(caller, async (c, cursor) => {
        const r = await c.listTools(cursor ? { cursor } : undefined);
        return { items: r.tools, nextCursor: r.nextCursor };
      });
      const tools = [];
      for (const { member, items } of lists) {
        names.tools.replace(
          member,
          items.map((t) => t.name),
        );
        for (const t of items) tools.push({ ...t, name: names.tools.exposed(member, t.name)! });
      }
      // 1.x and 2.x SDK types describe the same JSON; the results pass through as they are.
      return { tools } as never;
    });
    s.setRequestHandler("tools/call", async (r) => {
      const o = names.tools.origin(r.params.name);
      if (!o) throw gatewayError("VIRTUAL_UNKNOWN_NAME", `tool "${r.params.name.slice(0, 64)}"`, { tool: r.params.name.slice(0, 64) });
      return (await this.#on(o.member, caller, (c) => c.callTool({ ...r.params, name: o.name }))) as never;
    });
    s.setRequestHandler("prompts/list", async () => {
      const lists = await this.#collect(caller, async (c, cursor) => {
        const r = await c.listPrompts(cursor ? { cursor } : undefined);
        return { items: r.prompts, nextCursor: r.nextCursor };
      });
      const prompts = [];
      for (const { member, items } of lists) {
        names.prompts.replace(
          member,
          items.map((p) => p.name),
        );
        for (const p of items) prompts.push({ ...p, name: names.prompts.exposed(member, p.name)! });
      }
      return { prompts } as never;
    });
    s.setRequestHandler("prompts/get", async (r) => {
      const o = names.prompts.origin(r.params.name);
      if (!o) throw gatewayError("VIRTUAL_UNKNOWN_NAME", `prompt "${r.params.name.slice(0, 64)}"`, { prompt: r.params.name.slice(0, 64) });
      return (await this.#on(o.member, caller, (c) => c.getPrompt({ ...r.params, name: o.name }))) as never;
    });
    // Resources keep their URIs (as for 2025-era callers); a read goes to the member that listed the URI,
    // else to the member whose template's literal prefix matches it longest (listed in this request if need be).
    const resources = new Map<string, string>();
    const templates: Array<{ member: string; prefix: string }> = [];
    const listResources = async () => {
      const lists = await this.#collect(caller, async (c, cursor) => {
        if (!c.getServerCapabilities()?.resources) return { items: [] };
        const r = await c.listResources(cursor ? { cursor } : undefined);
        return { items: r.resources, nextCursor: r.nextCursor };
      });
      const out = [];
      for (const { member, items } of lists) {
        for (const res of items) {
          if (resources.has(res.uri)) continue;
          resources.set(res.uri, member);
          out.push(res);
        }
      }
      return out;
    };
    const listTemplates = async () => {
      const lists = await this.#collect(caller, async (c, cursor) => {
        if (!c.getServerCapabilities()?.resources) return { items: [] };
        const r = await c.listResourceTemplates(cursor ? { cursor } : undefined);
        return { items: r.resourceTemplates, nextCursor: r.nextCursor };
      });
      const out = [];
      for (const { member, items } of lists) {
        for (const t of items) {
          const brace = t.uriTemplate.indexOf("{");
          templates.push({ member, prefix: brace === -1 ? t.uriTemplate : t.uriTemplate.slice(0, brace) });
          out.push(t);
        }
      }
      return out;
    };
    s.setRequestHandler("resources/list", async () => ({ resources: await listResources() }) as never);
    s.setRequestHandler("resources/templates/list", async () => ({ resourceTemplates: await listTemplates() }) as never);
    s.setRequestHandler("resources/read", async (r) => {
      const uri = r.params.uri;
      // Stateless: nothing was listed before this request, so the lists are read now.
      await Promise.all([listResources(), listTemplates()]);
      let member = resources.get(uri);
      if (!member) {
        let best = "";
        for (const t of templates) if (uri.startsWith(t.prefix) && t.prefix.length > best.length) [best, member] = [t.prefix, t.member];
      }
      if (!member) throw gatewayError("VIRTUAL_UNKNOWN_NAME", `resource "${uri.slice(0, 128)}"`, { uri: uri.slice(0, 128) });
      return (await this.#on(member, caller, (c) => c.readResource(r.params))) as never;
    });
    return s;
  }

  /** Serve one 2026-07-28 request (already authenticated by the listener; `body` parsed for a POST). */
  async serve(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    const abort = new AbortController();
    res.once("close", () => abort.abort());
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const x of v) headers.append(k, x);
      else if (v !== undefined) headers.set(k, v);
    }
    const post = req.method === "POST";
    const request = new Request(`http://127.0.0.1${req.url ?? "/"}`, {
      method: req.method ?? "GET",
      headers,
      body: post ? JSON.stringify(body) : null,
      signal: abort.signal,
    });
    const response = await this.#handler.fetch(request, post ? { parsedBody: body } : undefined);
    const out: Record<string, string> = {};
    response.headers.forEach((v, k) => {
      out[k] = v;
    });
    res.writeHead(response.status, out);
    if (response.body) for await (const chunk of response.body) res.write(chunk);
    res.end();
  }

  async close(): Promise<void> {
    this.#clients.clear();
    await this.#handler.close();
  }
}
