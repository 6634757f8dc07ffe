// The /mcp/{virtual} routes as the listener sees them: which names are virtual, and a handler that loads the
// MCP SDK server and client (virtual-endpoints.ts) on the first virtual request, not when the gateway starts.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal } from "../chain/types.ts";
import type { GatewayError } from "../errors.ts";
import type { VirtualEndpoints, VirtualEndpointsOptions } from "./virtual-endpoints.ts";

export type VirtualRoutesOptions = VirtualEndpointsOptions;

export class VirtualRoutes {
  readonly #o: VirtualRoutesOptions;
  #endpoints: Promise<VirtualEndpoints> | undefined;
  #closed = false;

  constructor(o: VirtualRoutesOptions) {
    this.#o = o;
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#o.servers, name);
  }

  get names(): string[] {
    return Object.keys(this.#o.servers);
  }

  // The SDK's server, transports and client cost ≈ 30 MB of resident code: loaded once, when first needed.
  #load(): Promise<VirtualEndpoints> {
    this.#endpoints ??= import("./virtual-endpoints.ts").then(({ VirtualEndpoints }) => new VirtualEndpoints(this.#o));
    return this.#endpoints;
  }

  /**
   * Serve one request on /mcp/{name}, already authenticated (`principal`). `body` is the parsed POST body;
   * a refusal goes out through `fail` (the listener's documented error replies).
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    principal: Principal | undefined,
    body: unknown,
    fail: (e: GatewayError) => void,
    legacy?: string,
  ): Promise<void> {
    const endpoints = await this.#load();
    return endpoints.handle(req, res, name, principal, body, fail, legacy);
  }

  /** End every virtual session and its member sessions (while the gateway still listens: they end through it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#endpoints) await (await this.#endpoints).close();
  }
}
