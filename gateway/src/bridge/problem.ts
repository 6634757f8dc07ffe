// RFC 9457 problem details for the REST bridge: every refusal carries the gateway's error code, and the
// status of the code's entry in errors.ts. Errors from the bridge's MCP client are mapped back to that code.

import type { ServerResponse } from "node:http";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError, ErrorCode as RpcCode } from "@modelcontextprotocol/sdk/types.js";
import { ERRORS, type ErrorCode, GatewayError } from "../errors.ts";
import { type HttpFailure, SessionOpenError } from "./bridge-sessions.ts";

export interface Problem {
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  /** Response headers that must go with it (the 401 challenge, Allow). */
  readonly headers?: Record<string, string>;
  /** Extension members (e.g. the tool result of a 422). */
  readonly extra?: Record<string, unknown>;
}

export function problemOf(code: ErrorCode, detail?: string, extra?: Record<string, unknown>, headers?: Record<string, string>): Problem {
  return { status: ERRORS[code].http, code, detail, extra, headers };
}

export function sendProblem(res: ServerResponse, p: Problem, instance: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    type: `urn:mcp-edge:error:${p.code}`,
    title: ERRORS[p.code].message,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    instance,
    code: p.code,
    ...p.extra,
  });
  res.writeHead(p.status, { "content-type": "application/problem+json", "content-length": Buffer.byteLength(body), ...p.headers });
  res.end(body);
}

function isCode(c: unknown): c is ErrorCode {
  return typeof c === "string" && Object.hasOwn(ERRORS, c);
}

/** The gateway's JSON-RPC error in a refused HTTP answer (its `error.data.gatewayCode`). */
function fromFailure(f: HttpFailure): Problem | undefined {
  let code: ErrorCode | undefined;
  let detail: string | undefined;
  try {
    const v = JSON.parse(f.body) as { error?: { message?: string; data?: { gatewayCode?: unknown } } };
    if (isCode(v.error?.data?.gatewayCode)) code = v.error.data.gatewayCode;
    detail = v.error?.message;
  } catch {
    /* not JSON: keep the status */
  }
  code ??=
    f.status === 401 ? "INVALID_TOKEN" : f.status === 403 ? "AUTHZ_DENIED" : f.status === 404 ? "SESSION_NOT_FOUND" : "UPSTREAM_HTTP_ERROR";
  // The same challenge the MCP endpoint sent (resource_metadata, scope, error="invalid_token" …).
  const headers: Record<string, string> | undefined = f.wwwAuthenticate ? { "www-authenticate": f.wwwAuthenticate } : undefined;
  return { status: f.status, code, detail, headers };
}

/** Maps what the bridge's MCP client threw to a problem; `failure` is the session's last refused HTTP answer. */
export function problemFromError(e: unknown, failure: HttpFailure | undefined): Problem {
  if (e instanceof GatewayError) return problemOf(e.code, e.detail);
  if (e instanceof SessionOpenError) return problemFromError(e.cause, e.failure ?? failure);
  if (e instanceof StreamableHTTPError && failure) return fromFailure(failure) ?? problemOf("UPSTREAM_HTTP_ERROR");
  if (e instanceof McpError) {
    const data = e.data as { gatewayCode?: unknown } | undefined;
    if (isCode(data?.gatewayCode)) return problemOf(data.gatewayCode, e.message);
    if (e.code === RpcCode.RequestTimeout) return problemOf("UPSTREAM_TIMEOUT", e.message);
    // The SDK client refuses a result that breaks the tool's own outputSchema with InvalidParams: that is the backend's fault.
    if (e.code === RpcCode.InvalidParams && /output schema|structured content/i.test(e.message)) {
      return problemOf("BRIDGE_BACKEND_ERROR", e.message, { rpcCode: e.code });
    }
    if (e.code === RpcCode.InvalidParams) return problemOf("BRIDGE_INVALID_ARGUMENTS", e.message);
    if (e.code === RpcCode.MethodNotFound || e.code === -32002) return problemOf("BRIDGE_UNKNOWN_TARGET", e.message);
    return problemOf("BRIDGE_BACKEND_ERROR", e.message, { rpcCode: e.code });
  }
  if (failure && e instanceof Error && /HTTP \d{3}|Error POSTing|Unexpected content type/.test(e.message)) return fromFailure(failure)!;
  return problemOf("INTERNAL_ERROR", e instanceof Error ? e.message.slice(0, 200) : undefined);
}
