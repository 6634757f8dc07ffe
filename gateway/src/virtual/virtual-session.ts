// One caller's virtual session: an SDK MCP server facing the caller whose handlers fan out to the member
// links (lists merged, calls routed by name), with ids, progress, cancellation and server→client requests mapped.

import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListRootsRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type Prompt,
  PromptListChangedNotificationSchema,
  ReadResourceRequestSchema,
  type RequestId,
  type Resource,
  ResourceListChangedNotificationSchema,
  type ResourceTemplate,
  type Tool,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { isDown, MemberLink } from "./member-link.ts";
import { NameMap } from "./names.ts";

/** Pages read from one member for one list (a member paginating forever cannot hold the caller). */
const MAX_PAGES = 100;

export interface VirtualSessionOptions {
  readonly virtual: string;
  readonly members: readonly string[];
  readonly separator: string;
  readonly retryDownMs: number;
  readonly requestTimeoutMs: number;
  readonly gatewayUrl: () => string;
  readonly version: string;
  readonly logger: Logger;
  /** Members already reported down (shared by the virtual server's sessions: reported once, not per session). */
  readonly reported: Set<string>;
}

type Extra = {
  signal: AbortSignal;
  requestId: RequestId;
  _meta?: { progressToken?: string | number };
  sendNotification: Server["notification"];
};

function gatewayError(code: ConstructorParameters<typeof GatewayError>[0], detail: string, data: Record<string, unknown>): McpError {
  const g = new GatewayError(code, detail).withData(data).toRpcError();
  return new McpError(g.code, g.message, g.data);
}

export class VirtualSession {
  readonly server: Server;
  readonly #o: VirtualSessionOptions;
  /** Credential and trace headers of the caller's latest request (the members are called with them). */
  headers: Record<string, string> = {};
  readonly #links = new Map<string, MemberLink>();
  /** Member → time before which it is not tried again. */
  readonly #downUntil = new Map<string, number>();
  readonly #tools: NameMap;
  readonly #prompts: NameMap;
  readonly #resources = new Map<string, string>();
  readonly #templates: Array<{ member: string; prefix: string }> = [];
  /** Member → caller requests being served by it (a member's server→client request goes with the latest). */
  readonly #serving = new Map<string, RequestId[]>();

  constructor(server: Server, o: VirtualSessionOptions) {
    this.server = server;
    this.#o = o;
    this.#tools = new NameMap(o.members, o.separator);
    this.#prompts = new NameMap(o.members, o.separator);
    this.#install();
  }

  #link(member: string): MemberLink {
    let l = this.#links.get(member);
    if (!l) {
      l = new MemberLink({
        member,
        gatewayUrl: this.#o.gatewayUrl,
        headers: () => this.headers,
        // The members may ask what the caller itself declared (sampling, elicitation, roots), no more.
        capabilities: this.server.getClientCapabilities() ?? {},
        version: this.#o.version,
        wire: (c) => this.#wire(member, c),
      });
      this.#links.set(member, l);
    }
    return l;
  }

  /** A member's notifications and server→client requests, routed back to this caller. */
  #wire(member: string, c: Client): void {
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => this.server.sendToolListChanged());
    c.setNotificationHandler(PromptListChangedNotificationSchema, () => this.server.sendPromptListChanged());
    c.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.server.sendResourceListChanged());
    const related = (): RequestOptions => {
      const ids = this.#serving.get(member);
      return { relatedRequestId: ids?.[ids.length - 1], timeout: this.#o.requestTimeoutMs };
    };
    // Only what the caller declared (the members' clients declare the same, and the SDK checks it).
    const caps = this.server.getClientCapabilities() ?? {};
    if (caps.sampling) c.setRequestHandler(CreateMessageRequestSchema, (r) => this.server.createMessage(r.params, related()));
    if (caps.elicitation) c.setRequestHandler(ElicitRequestSchema, (r) => this.server.elicitInput(r.params, related()));
    if (caps.roots) c.setRequestHandler(ListRootsRequestSchema, (r) => this.server.listRoots(r.params, related()));
  }

  /** The connected client of `member`, or the documented error when it is down (reported once). */
  async #client(member: string): Promise<Client> {
    const until = this.#downUntil.get(member);
    if (until !== undefined && Date.now() < until) throw this.#downError(member, undefined);
    const link = this.#link(member);
    try {
      const c = await link.client();
      this.#up(member);
      return c;
    } catch (e) {
      if (e instanceof McpError && !isDown(e, link.lastFailure)) throw e;
      const f = link.lastFailure;
      if (f && !isDown(undefined, f)) {
        // The member's chain refused this caller (401, 403 …): its answer, not an outage.
        throw new McpError(f.rpcCode ?? -32603, f.message, { member });
      }
      throw this.#markDown(member, e);
    }
  }

  #up(member: string): void {
    this.#downUntil.delete(member);
    if (this.#o.reported.delete(member))
      this.#o.logger.info("virtual server member is back", { "mcp.virtual": this.#o.virtual, "mcp.server": member });
  }

  #markDown(member: string, cause: unknown): McpError {
    this.#downUntil.set(member, Date.now() + this.#o.retryDownMs);
    this.#links.get(member)?.drop();
    if (!this.#o.reported.has(member)) {
      this.#o.reported.add(member);
      this.#o.logger.warn("virtual server member is down; the other members keep working", {
        "mcp.virtual": this.#o.virtual,
        "mcp.server": member,
        "error.message": (cause as Error)?.message?.slice(0, 256),
      });
    }
    return this.#downError(member, cause);
  }

  #downError(member: string, _cause: unknown): McpError {
    return gatewayError("VIRTUAL_BACKEND_UNAVAILABLE", `"${member}"`, { member });
  }

  /** Run one request on a member; a failure of its backend marks it down and becomes the documented error. */
  async #on<T>(member: string, extra: Extra, f: (c: Client, o: RequestOptions) => Promise<T>): Promise<T> {
    const c = await this.#client(member);
    const ids = this.#serving.get(member) ?? [];
    ids.push(extra.requestId);
    this.#serving.set(member, ids);
    const token = extra._meta?.progressToken;
    const options: RequestOptions = {
      // The caller's cancellation reaches the member as notifications/cancelled for the member's own id.
      signal: extra.signal,
      timeout: this.#o.requestTimeoutMs,
      resetTimeoutOnProgress: true,
      // The member's progress, under the caller's own progress token.
      onprogress:
        token === undefined
          ? undefined
          : (p) =>
              void extra.sendNotification({ method: "notifications/progress", params: { ...p, progressToken: token } }).catch(() => {}),
    };
    try {
      return await f(c, options);
    } catch (e) {
      if (extra.signal.aborted) throw e;
      const link = this.#links.get(member);
      if (isDown(e, e instanceof McpError ? undefined : link?.lastFailure)) throw this.#markDown(member, e);
      if (!(e instanceof McpError) && link?.lastFailure) {
        const f = link.lastFailure;
        throw new McpError(f.rpcCode ?? -32603, f.message, { member });
      }
      throw e;
    } finally {
      const i = ids.indexOf(extra.requestId);
      if (i >= 0) ids.splice(i, 1);
    }
  }

  /** Every member's items of one list, skipping the members that are down or refuse this caller. */
  async #collect<T>(
    extra: Extra,
    capability: "tools" | "prompts" | "resources",
    page: (c: Client, cursor: string | undefined, o: RequestOptions) => Promise<{ items: T[]; nextCursor?: string }>,
  ): Promise<Array<{ member: string; items: T[] }>> {
    const out = await Promise.all(
      this.#o.members.map(async (member) => {
        try {
          const c = await this.#client(member);
          if (!c.getServerCapabilities()?.[capability]) return { member, items: [] as T[] };
          return {
            member,
            items: await this.#on(member, extra, async (cl, o) => {
              const items: T[] = [];
              let cursor: string | undefined;
              for (let i = 0; i < MAX_PAGES; i++) {
                const r = await page(cl, cursor, o);
                items.push(...r.items);
                cursor = r.nextCursor;
                if (!cursor) break;
              }
              return items;
            }),
          };
        } catch (e) {
          if (extra.signal.aborted) throw e;
          // Down (reported) or not permitted for this caller: the other members' items still go out.
          return undefined;
        }
      }),
    );
    return out.filter((x): x is { member: string; items: T[] } => x !== undefined);
  }

  #install(): void {
    const s = this.server;
    s.setRequestHandler(ListToolsRequestSchema, async (_r, extra) => {
      const lists = await this.#collect<Tool>(extra, "tools", async (c, cursor, o) => {
        const r = await c.listTools(cursor ? { cursor } : undefined, o);
        return { items: r.tools, nextCursor: r.nextCursor };
      });
      const tools: Tool[] = [];
      for (const { member, items } of lists) {
        this.#tools.replace(
          member,
          items.map((t) => t.name),
        );
        for (const t of items) tools.push({ ...t, name: this.#tools.exposed(member, t.name)! });
      }
      return { tools };
    });
    s.setRequestHandler(CallToolRequestSchema, async (r, extra) => {
      const o = this.#tools.origin(r.params.name);
      if (!o) throw gatewayError("VIRTUAL_UNKNOWN_NAME", `tool "${r.params.name.slice(0, 64)}"`, { tool: r.params.name.slice(0, 64) });
      return this.#on(o.member, extra, (c, opts) =>
        c.request({ method: "tools/call", params: { ...r.params, name: o.name } }, CallToolResultSchema, opts),
      );
    });
    s.setRequestHandler(ListPromptsRequestSchema, async (_r, extra) => {
      const lists = await this.#collect<Prompt>(extra, "prompts", async (c, cursor, o) => {
        const r = await c.listPrompts(cursor ? { cursor } : undefined, o);
        return { items: r.prompts, nextCursor: r.nextCursor };
      });
      const prompts: Prompt[] = [];
      for (const { member, items } of lists) {
        this.#prompts.replace(
          member,
          items.map((p) => p.name),
        );
        for (const p of items) prompts.push({ ...p, name: this.#prompts.exposed(member, p.name)! });
      }
      return { prompts };
    });
    s.setRequestHandler(GetPromptRequestSchema, async (r, extra) => {
      const o = this.#prompts.origin(r.params.name);
      if (!o) throw gatewayError("VIRTUAL_UNKNOWN_NAME", `prompt "${r.params.name.slice(0, 64)}"`, { prompt: r.params.name.slice(0, 64) });
      return this.#on(o.member, extra, (c, opts) => c.getPrompt({ ...r.params, name: o.name }, opts));
    });
    // Resource URIs are kept as the members serve them (they name things, and clients resolve them);
    // reads go to the member that listed the URI, else to the one whose template prefix matches.
    s.setRequestHandler(ListResourcesRequestSchema, async (_r, extra) => {
      const lists = await this.#collect<Resource>(extra, "resources", async (c, cursor, o) => {
        const r = await c.listResources(cursor ? { cursor } : undefined, o);
        return { items: r.resources, nextCursor: r.nextCursor };
      });
      const resources: Resource[] = [];
      const seen = new Set<string>();
      for (const { member, items } of lists) {
        for (const res of items) {
          if (seen.has(res.uri)) continue; // the first member (in configuration order) serves a URI two list
          seen.add(res.uri);
          this.#resources.set(res.uri, member);
          resources.push(res);
        }
      }
      return { resources };
    });
    s.setRequestHandler(ListResourceTemplatesRequestSchema, async (_r, extra) => {
      const lists = await this.#collect<ResourceTemplate>(extra, "resources", async (c, cursor, o) => {
        const r = await c.listResourceTemplates(cursor ? { cursor } : undefined, o);
        return { items: r.resourceTemplates, nextCursor: r.nextCursor };
      });
      this.#templates.length = 0;
      const resourceTemplates: ResourceTemplate[] = [];
      for (const { member, items } of lists) {
        for (const t of items) {
          const brace = t.uriTemplate.indexOf("{");
          this.#templates.push({ member, prefix: brace === -1 ? t.uriTemplate : t.uriTemplate.slice(0, brace) });
          resourceTemplates.push(t);
        }
      }
      return { resourceTemplates };
    });
    s.setRequestHandler(ReadResourceRequestSchema, async (r, extra) => {
      const uri = r.params.uri;
      let member = this.#resources.get(uri);
      if (!member) {
        let best = "";
        for (const t of this.#templates)
          if (uri.startsWith(t.prefix) && t.prefix.length > best.length) [best, member] = [t.prefix, t.member];
      }
      if (!member)
        throw gatewayError("VIRTUAL_UNKNOWN_NAME", `resource "${uri.slice(0, 128)}" (list the resources first)`, {
          uri: uri.slice(0, 128),
        });
      return this.#on(member, extra, (c, opts) => c.readResource(r.params, opts));
    });
  }

  /** End every member session this virtual session opened. */
  async close(): Promise<void> {
    await Promise.all([...this.#links.values()].map((l) => l.close()));
    this.#links.clear();
  }
}
