// Runs one tools/call: validate the arguments (ajv, compiled once per tool), send the request with undici,
// retry idempotent operations (honouring Retry-After), and shape the answer as an MCP tool result.

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { type Dispatcher, errors as undiciErrors } from "undici";
import type { ToolDefinition } from "./build-tools.ts";
import type { AdapterErrorCode } from "./errors.ts";
import type { AdapterOptions } from "./options.ts";
import { buildRequest } from "./request-build.ts";
import { credentialsFor } from "./security.ts";

type Headers = Readonly<Record<string, string | string[] | undefined>>;

export interface CallContext {
  readonly dispatcher: Dispatcher;
  readonly baseUrl: string;
  readonly options: AdapterOptions;
  /** Headers of the MCP request (Streamable HTTP): where the gateway's injected credentials arrive. */
  readonly incoming: Headers | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signal: AbortSignal | undefined;
}

/** One ajv instance per adapter; a tool's validators are compiled on its first call and kept. */
export class Validators {
  readonly #ajv: Ajv2020;
  readonly #input = new Map<string, ValidateFunction>();
  readonly #output = new Map<string, ValidateFunction>();

  constructor() {
    // strict off: documents carry vendor keywords and formats ajv does not know (they stay annotations).
    this.#ajv = new Ajv2020({ strict: false, allErrors: false, logger: false, validateFormats: true });
    (addFormats as unknown as (a: Ajv2020) => void)(this.#ajv);
  }

  input(tool: ToolDefinition): ValidateFunction {
    let v = this.#input.get(tool.name);
    if (!v) {
      v = this.#ajv.compile(tool.inputSchema);
      this.#input.set(tool.name, v);
    }
    return v;
  }

  output(tool: ToolDefinition): ValidateFunction | undefined {
    if (!tool.outputSchema) return undefined;
    let v = this.#output.get(tool.name);
    if (!v) {
      v = this.#ajv.compile(tool.outputSchema);
      this.#output.set(tool.name, v);
    }
    return v;
  }
}

function failure(code: AdapterErrorCode, text: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text: `${code}: ${text}` }] };
}

function ajvMessage(v: ValidateFunction, root: string): string {
  const e = v.errors?.[0];
  if (!e) return "invalid";
  const at = e.instancePath || root;
  const extra = e.keyword === "additionalProperties" ? ` "${(e.params as { additionalProperty?: string }).additionalProperty}"` : "";
  return `${at} ${e.message ?? e.keyword}${extra}`;
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(h: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly truncated: boolean;
}

async function readCapped(body: Dispatcher.ResponseData["body"], max: number): Promise<{ buf: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = c as Buffer;
    if (size + b.length > max) {
      chunks.push(b.subarray(0, max - size));
      body.destroy();
      return { buf: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(b);
    size += b.length;
  }
  return { buf: Buffer.concat(chunks), truncated: false };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function mediaOf(h: string | string[] | undefined): string {
  const v = (Array.isArray(h) ? h[0] : h) ?? "";
  return v.split(";")[0]!.trim().toLowerCase();
}

function isJson(media: string): boolean {
  return media === "application/json" || media.endsWith("+json");
}

function summary(a: Answer): string {
  const text = a.body.toString("utf8").replace(/\s+/g, " ").trim();
  return text.length > 500 ? `${text.slice(0, 500)}…` : text || "(empty body)";
}

/** Executes a call; never throws for a backend failure: every failure is a result with isError. */
export async function callTool(
  tool: ToolDefinition,
  args: Record<string, unknown>,
  ctx: CallContext,
  validators: Validators,
): Promise<CallToolResult> {
  let check: ValidateFunction;
  try {
    check = validators.input(tool);
  } catch (e) {
    return failure("SCHEMA_UNCOMPILABLE", `${tool.name}: ${(e as Error).message.slice(0, 300)}`);
  }
  if (!check(args)) return failure("INVALID_ARGUMENTS", ajvMessage(check, "(arguments)"));
  const plan = tool.plan;
  const creds = credentialsFor(plan.security, ctx.incoming, ctx.env);
  if (!creds) {
    const wanted =
      plan.security.alternatives.map((a) => a.map((s) => s.scheme).join("+")).join(" or ") || "(a scheme the adapter cannot satisfy)";
    return failure("CREDENTIALS_MISSING", `${tool.operation.method} ${tool.operation.path} needs ${wanted}`);
  }
  const req = buildRequest(ctx.baseUrl, plan, args, creds);
  const o = ctx.options;
  const idempotent = tool.annotations.readOnlyHint === true || tool.annotations.idempotentHint === true;
  const attempts = idempotent ? o.retries + 1 : 1;
  const what = `${req.method} ${tool.operation.path}`;
  let last: CallToolResult = failure("CONNECTION_FAILED", `${what}: not attempted`);
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let answer: Answer;
    try {
      const res = await ctx.dispatcher.request({
        origin: new URL(req.url).origin,
        path: req.url.slice(new URL(req.url).origin.length) || "/",
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
        signal: ctx.signal,
      });
      const { buf, truncated } = await readCapped(res.body, o.maxResponseBytes);
      answer = { status: res.statusCode, headers: res.headers, body: buf, truncated };
    } catch (e) {
      if (ctx.signal?.aborted) return failure("CONNECTION_FAILED", `${what}: cancelled`);
      const timeout = e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError;
      last = timeout
        ? failure("TIMEOUT", `${what}: no answer within ${o.timeoutMs} ms`)
        : failure("CONNECTION_FAILED", `${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      if (attempt < attempts) await sleep(backoff(attempt), ctx.signal);
      continue;
    }
    if (answer.status >= 200 && answer.status < 300) return success(tool, answer, req.url, validators, o);
    const code: AdapterErrorCode = answer.status >= 500 ? "HTTP_SERVER_ERROR" : "HTTP_CLIENT_ERROR";
    last = failure(code, `${what} answered ${answer.status}: ${summary(answer)}`);
    const retryable = answer.status >= 500 || answer.status === 429 || answer.status === 408;
    if (!retryable || attempt >= attempts) break;
    const after = retryAfterMs(answer.headers["retry-after"]);
    if (after !== undefined && after > o.maxRetryAfterMs) break;
    await sleep(after ?? backoff(attempt), ctx.signal);
  }
  return last;
}

function backoff(attempt: number): number {
  return Math.min(2000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
}

function success(tool: ToolDefinition, a: Answer, url: string, validators: Validators, o: AdapterOptions): CallToolResult {
  const media = mediaOf(a.headers["content-type"]);
  const note = a.truncated ? `\n[truncated: the answer is larger than ${o.maxResponseBytes} bytes]` : "";
  if (a.body.length === 0) {
    if (tool.outputSchema)
      return failure("OUTPUT_MISMATCH", `${tool.operation.method} ${tool.operation.path} answered ${a.status} with no body`);
    return { content: [{ type: "text", text: `HTTP ${a.status} (no content)` }] };
  }
  if (isJson(media) || (media === "" && /^\s*[[{]/.test(a.body.toString("utf8", 0, 64)))) {
    const text = a.body.toString("utf8");
    if (a.truncated) {
      if (tool.outputSchema) return failure("RESPONSE_TOO_LARGE", `the answer is larger than maxResponseBytes (${o.maxResponseBytes})`);
      return { content: [{ type: "text", text: text + note }] };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (tool.outputSchema) return failure("OUTPUT_MISMATCH", `the answer is not valid JSON: ${text.slice(0, 200)}`);
      return { content: [{ type: "text", text }] };
    }
    if (!tool.outputSchema) return { content: [{ type: "text", text }] };
    const structured = (tool.plan.wrapOutput ? { result: value } : value) as Record<string, unknown>;
    if (o.checkOutput) {
      let v: ValidateFunction;
      try {
        v = validators.output(tool)!;
      } catch (e) {
        return failure("SCHEMA_UNCOMPILABLE", `${tool.name} outputSchema: ${(e as Error).message.slice(0, 300)}`);
      }
      if (!v(structured)) return failure("OUTPUT_MISMATCH", `${ajvMessage(v, "(answer)")} (answer ${a.status})`);
    } else if (structured === null || typeof structured !== "object" || Array.isArray(structured)) {
      return failure("OUTPUT_MISMATCH", "the answer is not a JSON object");
    }
    return { content: [{ type: "text", text }], structuredContent: structured };
  }
  if (tool.outputSchema) return failure("OUTPUT_MISMATCH", `the answer is ${media || "untyped"}, not JSON`);
  if (media.startsWith("text/") || media.endsWith("+xml") || media === "application/xml" || media === "application/yaml") {
    return { content: [{ type: "text", text: a.body.toString("utf8") + note }] };
  }
  if (media.startsWith("image/") && !a.truncated) {
    return { content: [{ type: "image", data: a.body.toString("base64"), mimeType: media }] };
  }
  const result: CallToolResult = {
    content: [{ type: "resource", resource: { uri: url, mimeType: media || "application/octet-stream", blob: a.body.toString("base64") } }],
  };
  if (a.truncated) result.content.push({ type: "text", text: note.trim() });
  return result;
}
