// The sidecar engine: an OPA server's Data API (POST /v1/data/mcp/authz/decision) over an undici
// keep-alive pool with a hard timeout. Down, slow or nonsense → AuthzEngineError → deny.
// API: https://www.openpolicyagent.org/docs/rest-api#get-a-document-with-input

import { Pool } from "undici";
import type { Secret } from "../../config/secret.ts";
import {
  type AuthzEngine,
  AuthzEngineError,
  type AuthzInput,
  type Decision,
  type FilterItem,
  filterInput,
  toDecision,
  toTargetSet,
} from "./types.ts";

export interface SidecarEngineOptions {
  /** Base URL of the OPA server, e.g. http://127.0.0.1:8181 (a path prefix is kept). */
  url: string;
  /** Whole-request budget (ms) for one decision; past it the request is denied. Default 500. */
  timeoutMs?: number;
  /** Keep-alive connections to OPA. Default 8. */
  connections?: number;
  /** Bearer token when OPA runs with --authentication=token. */
  token?: Secret;
  /** Label reported as the policy revision in decision logs. Default "sidecar". */
  revision?: string;
}

/** OPA answers are small; refuse to buffer more than this. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class SidecarEngine implements AuthzEngine {
  readonly kind = "sidecar" as const;
  readonly revision: string;
  readonly #pool: Pool;
  readonly #decisionPath: string;
  readonly #filterPath: string;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;

  constructor(opts: SidecarEngineOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`authz: sidecar url must be http(s): ${opts.url}`);
    const prefix = u.pathname.replace(/\/+$/, "");
    this.#decisionPath = `${prefix}/v1/data/mcp/authz/decision`;
    this.#filterPath = `${prefix}/v1/data/mcp/authz/filter`;
    this.#timeoutMs = opts.timeoutMs ?? 500;
    this.revision = opts.revision ?? "sidecar";
    this.#headers = { "content-type": "application/json", accept: "application/json" };
    if (opts.token) this.#headers.authorization = `Bearer ${opts.token.reveal()}`;
    this.#pool = new Pool(u.origin, {
      connections: opts.connections ?? 8,
      keepAliveTimeout: 30_000,
      headersTimeout: this.#timeoutMs,
      bodyTimeout: this.#timeoutMs,
      connectTimeout: this.#timeoutMs,
    });
  }

  async decide(input: AuthzInput): Promise<Decision> {
    return toDecision(await this.#query(this.#decisionPath, input));
  }

  async filter(base: AuthzInput, items: readonly FilterItem[]): Promise<Set<string>> {
    return toTargetSet(await this.#query(this.#filterPath, filterInput(base, items)));
  }

  onReload(): () => void {
    // OPA reloads its own bundles; the decision cache TTL bounds how long an old answer is served.
    return () => {};
  }

  async #query(path: string, input: unknown): Promise<unknown> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let text: string;
    let status: number;
    try {
      const res = await this.#pool.request({ path, method: "POST", headers: this.#headers, body: JSON.stringify({ input }), signal });
      status = res.statusCode;
      text = await readLimited(res.body, MAX_RESPONSE_BYTES);
    } catch (e) {
      throw classify(e, this.#timeoutMs);
    }
    if (status !== 200) {
      throw new AuthzEngineError("unavailable", `OPA answered HTTP ${status}: ${text.slice(0, 200)}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new AuthzEngineError("malformed", "OPA answered a body that is not JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new AuthzEngineError("malformed", "OPA answer is not an object");
    // {"result": …}; no "result" member means the document is undefined (policy not loaded?).
    if (!("result" in body)) throw new AuthzEngineError("malformed", `OPA has no document at ${path} (policy not loaded?)`);
    return (body as { result: unknown }).result;
  }

  async close(): Promise<void> {
    await this.#pool.close().catch(() => this.#pool.destroy());
  }
}

async function readLimited(body: AsyncIterable<Buffer | Uint8Array> & { destroy?(e?: Error): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > limit) {
      body.destroy?.();
      throw new AuthzEngineError("malformed", `OPA answer exceeds ${limit} bytes`);
    }
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function classify(e: unknown, timeoutMs: number): AuthzEngineError {
  if (e instanceof AuthzEngineError) return e;
  const err = e as { name?: string; code?: string; message?: string };
  if (
    err.name === "TimeoutError" ||
    err.name === "AbortError" ||
    err.code === "UND_ERR_HEADERS_TIMEOUT" ||
    err.code === "UND_ERR_BODY_TIMEOUT" ||
    err.code === "UND_ERR_CONNECT_TIMEOUT" ||
    err.code === "UND_ERR_ABORTED"
  ) {
    return new AuthzEngineError("timeout", `OPA did not answer within ${timeoutMs} ms`, { cause: e });
  }
  return new AuthzEngineError("unavailable", `OPA unreachable: ${err.code ?? err.message ?? String(e)}`, { cause: e });
}
