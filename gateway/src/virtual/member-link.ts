// One virtual session's connection to one member server: an SDK client on this gateway's own /mcp/{member}
// route, opened on first use with the caller's current credential, so each member's chain (authn, authz with
// the member's name and the real tool name, pins, validation, credentials) runs as for a direct client.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type ClientCapabilities, McpError } from "@modelcontextprotocol/sdk/types.js";
import { ERRORS } from "../errors.ts";

/** What the gateway answered when it refused a member's request over HTTP (status and JSON-RPC error). */
export interface MemberFailure {
  readonly status: number;
  readonly rpcCode: number | undefined;
  readonly message: string;
}

/**
 * JSON-RPC codes meaning the member's backend itself failed (not a refusal by the chain). UPSTREAM_TIMEOUT is
 * not among them: one slow call must not take the member away from every caller; it gets its own error.
 */
const DOWN_CODES = new Set<number>([
  ERRORS.UPSTREAM_UNAVAILABLE.rpc,
  ERRORS.UPSTREAM_BAD_RESPONSE.rpc,
  ERRORS.UPSTREAM_CLOSED.rpc,
  ERRORS.UPSTREAM_HTTP_ERROR.rpc,
  ERRORS.UPSTREAM_FRAME_TOO_LARGE.rpc,
]);

/** True when `e` (from a member request) says the member's backend is down, rather than refusing the caller. */
export function isDown(e: unknown, failure: MemberFailure | undefined): boolean {
  if (e instanceof McpError) return DOWN_CODES.has(e.code);
  if (failure?.rpcCode !== undefined) return DOWN_CODES.has(failure.rpcCode);
  // No JSON-RPC answer at all (connection refused, a 5xx without a body): down.
  return failure === undefined || failure.status >= 500;
}

export interface MemberLinkOptions {
  readonly member: string;
  /** This gateway's own base URL. */
  readonly gatewayUrl: () => string;
  /** The caller's current credential and trace headers (read on every request: a renewed token is used). */
  readonly headers: () => Record<string, string>;
  readonly capabilities: ClientCapabilities;
  readonly version: string;
  /** Installs the handlers of the member's notifications and server→client requests. */
  readonly wire: (client: Client) => void;
}

export class MemberLink {
  readonly member: string;
  readonly #o: MemberLinkOptions;
  #client: Promise<Client> | undefined;
  #transport: StreamableHTTPClientTransport | undefined;
  /** The gateway's last HTTP refusal on this link (read right after a request failed). */
  lastFailure: MemberFailure | undefined;

  constructor(o: MemberLinkOptions) {
    this.member = o.member;
    this.#o = o;
  }

  get opened(): boolean {
    return this.#client !== undefined;
  }

  /** The connected client, opening the member session on first use. A failed opening is forgotten (retried later). */
  client(): Promise<Client> {
    if (!this.#client) {
      const p = this.#open();
      this.#client = p;
      p.catch(() => {
        if (this.#client === p) this.#client = undefined;
      });
    }
    return this.#client;
  }

  async #open(): Promise<Client> {
    const fetchAs: typeof fetch = async (input, init) => {
      const h = new Headers(init?.headers);
      for (const [k, v] of Object.entries(this.#o.headers())) h.set(k, v);
      const res = await fetch(input, { ...init, headers: h });
      if (!res.ok && res.status !== 202) {
        const text = await res
          .clone()
          .text()
          .catch(() => "");
        let rpcCode: number | undefined;
        let message = text.slice(0, 512);
        try {
          const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
          if (typeof body.error?.code === "number") rpcCode = body.error.code;
          if (typeof body.error?.message === "string") message = body.error.message;
        } catch {}
        this.lastFailure = { status: res.status, rpcCode, message };
      } else this.lastFailure = undefined;
      return res;
    };
    const url = new URL(`${this.#o.gatewayUrl()}/mcp/${encodeURIComponent(this.#o.member)}`);
    const transport = new StreamableHTTPClientTransport(url, { fetch: fetchAs });
    const client = new Client({ name: "mcp-gateway-virtual", version: this.#o.version }, { capabilities: this.#o.capabilities });
    this.#o.wire(client);
    this.lastFailure = undefined;
    await client.connect(transport);
    this.#transport = transport;
    return client;
  }

  /** End the member session (DELETE) and the client. */
  async close(): Promise<void> {
    const p = this.#client;
    this.#client = undefined;
    if (!p) return;
    const c = await p.catch(() => undefined);
    if (!c) return;
    await this.#transport?.terminateSession().catch(() => {});
    await c.close().catch(() => {});
  }

  /** Forget a broken session without waiting for it (the member is down). */
  drop(): void {
    const p = this.#client;
    this.#client = undefined;
    void p?.then(
      (c) => c.close().catch(() => {}),
      () => {},
    );
  }
}
