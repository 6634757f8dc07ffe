// The GitHub REST client of one tool call: an Octokit bound to the caller's injected token, the call's
// time limit and cancellation, and the translation of GitHub's failures into tool-error text.

import { Octokit } from "@octokit/rest";

export interface ClientOptions {
  /** REST API root (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3). */
  baseUrl?: string;
  /** Per GitHub request, including redirects (default 15 s). */
  timeoutMs?: number;
  userAgent?: string;
}

/** Build the Octokit of one call. `signal` is the MCP request's cancellation. */
export function githubClient(token: string, o: ClientOptions, signal?: AbortSignal): Octokit {
  const timeout = AbortSignal.timeout(o.timeoutMs ?? 15_000);
  return new Octokit({
    auth: token,
    baseUrl: o.baseUrl ?? "https://api.github.com",
    userAgent: o.userAgent ?? "mcp-edge-adapter-github",
    request: { signal: signal ? AbortSignal.any([signal, timeout]) : timeout },
    // Octokit's default logger writes warnings (deprecations) to the console: stdout is the stdio transport.
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
}

interface GitHubErrorBody {
  message?: string;
  errors?: Array<{ resource?: string; field?: string; code?: string; message?: string } | string>;
  documentation_url?: string;
}

/**
 * Text of a tool error for a failed GitHub call: status, GitHub's message and its field errors. Only
 * the fields of GitHub's documented error body are used, never a raw body or Octokit's message (which
 * may quote a body that echoes request headers); `token` is masked in case GitHub's text contains it.
 */
export function describeGitHubError(err: unknown, timeoutMs: number, token?: string): string {
  const text = describe(err, timeoutMs);
  return token ? text.split(token).join("[redacted]") : text;
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; status?: number; message?: string; response?: { data?: unknown }; cause?: { name?: string } };
  // AbortSignal.timeout rejects fetch with a TimeoutError, which Octokit wraps (status 500, no response).
  if (e?.name === "TimeoutError" || e?.cause?.name === "TimeoutError") return `GitHub did not answer within ${timeoutMs} ms`;
  if (e?.name === "AbortError") return "the call was cancelled";
  if (e?.name === "HttpError" && !e.response) return `GitHub is unreachable: ${e.message ?? "network error"}`;
  if (typeof e?.status === "number" && e.name === "HttpError") {
    const data = e.response?.data;
    const body = (data && typeof data === "object" ? data : {}) as GitHubErrorBody;
    const details = (body.errors ?? [])
      .map((x) => (typeof x === "string" ? x : x.message || [x.resource, x.field, x.code].filter(Boolean).join(" ")))
      .filter(Boolean);
    const hint =
      e.status === 401
        ? " (the injected GitHub token was refused)"
        : e.status === 403 || e.status === 429
          ? " (permission or rate limit)"
          : e.status === 404
            ? " (not found, or not visible to this token)"
            : "";
    const message = typeof body.message === "string" ? body.message : "no error message";
    return `GitHub answered ${e.status}${hint}: ${message}${details.length ? ` — ${details.join("; ")}` : ""}`;
  }
  return `GitHub request failed: ${e?.name === "Error" || !e?.name ? (e?.message ?? String(err)) : e.name}`;
}
