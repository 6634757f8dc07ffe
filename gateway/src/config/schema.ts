// The configuration schema: validated once at load; the request path reads the parsed result.
// gateway/config.schema.json is generated from this file (npm run schema -w gateway) and committed.

import { z } from "zod";
import { restBridgeSchema } from "../bridge/config.ts";
import { limitsStageFields } from "../filters/limits/schema.ts";
import { isLoopbackHost } from "../listener/guards.ts";
import { adminSchema } from "./schema-admin.ts";
import { authSchema } from "./schema-authn.ts";
import { authzSchema, serverAuthzSchema } from "./schema-authz.ts";
import { credentialsSchema, secretCacheSchema, vaultConfigSchema } from "./schema-credentials.ts";
import { governanceSchema, serverToolsSchema } from "./schema-governance.ts";
import { telemetrySchema } from "./schema-telemetry.ts";
import { virtualServersSchema } from "./schema-virtual.ts";
import { plain, secret } from "./secret.ts";

/** A plain string that may have come from a ${…} reference. */
const str = () => z.preprocess(plain, z.string());

export { secret };

const serverName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const httpUrl = () => str().pipe(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }));

const common = {
  /** Per-request timeout for this backend (ms); resets on every message the backend sends for the request. */
  timeoutMs: z.number().int().positive().optional(),
  description: z.string().optional(),
  /** Per-tool actions for the policy (docs/authorization.md). */
  authz: serverAuthzSchema.optional(),
  /** Backend credentials injected by the gateway (docs/credentials.md). */
  credentials: credentialsSchema.optional(),
  /** Tool governance for this route: pinned definitions, argument validation (docs/governance.md). */
  tools: serverToolsSchema.prefault({}),
};

export const httpServerSchema = z
  .object({
    url: httpUrl().describe("Streamable HTTP endpoint of the backend MCP server"),
    /** Static headers sent upstream (values may be secrets). */
    headers: z.record(z.string(), secret()).optional(),
    ...common,
  })
  .strict();

export const sseServerSchema = z
  .object({
    sse: httpUrl().describe("Legacy (2024-11-05) HTTP+SSE endpoint of the backend, the GET /sse URL"),
    headers: z.record(z.string(), secret()).optional(),
    ...common,
  })
  .strict();

export const stdioServerSchema = z
  .object({
    command: str().pipe(z.string().min(1)).describe("Executable of the stdio MCP server; one child per session"),
    args: z.array(str()).default([]),
    /** Environment of the child. The gateway's own environment is NOT inherited, except PATH/HOME/LANG and `inheritEnv`. */
    env: z.record(z.string(), secret()).default({}),
    inheritEnv: z.array(z.string()).default([]),
    cwd: str().optional(),
    /** Kill the child after this long without traffic (ms). */
    idleTimeoutMs: z.number().int().positive().default(600_000),
    /** Children of this route at once, and per caller; when full the oldest idle child is reaped, else 429 CHILD_LIMIT. */
    maxChildren: z.number().int().min(1).default(100),
    maxChildrenPerPrincipal: z.number().int().min(1).default(10),
    ...common,
  })
  .strict();

export const redisSchema = z
  .object({
    /** redis://[user:password@]host:port[/db] or rediss://… (may be a ${…} reference). */
    url: secret().optional(),
    /** Unix socket path of the Redis server, instead of url. */
    socketPath: str().optional(),
    /** Prefix of every key the gateway writes (several gateways can share one Redis). */
    keyPrefix: z.string().default("mcp-gateway:"),
    /** Budget of one Redis command (ms); past it the request is refused with STATE_STORE_UNAVAILABLE. */
    commandTimeoutMs: z.number().int().min(1).max(60_000).default(500),
  })
  .strict()
  .refine((r) => (r.url === undefined) !== (r.socketPath === undefined), "give exactly one of url and socketPath");

export const serverSchema = z.union([httpServerSchema, sseServerSchema, stdioServerSchema], {
  error: "expected one of: { url }, { sse } or { command, args, env }",
});

export const configSchema = z
  .object({
    listen: z
      .object({
        host: str().default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ host: "127.0.0.1", port: 8080 }),
    /** Canonical public URL of the gateway (e.g. https://mcp.example.com), used in metadata and Host checks. */
    publicBaseUrl: httpUrl().optional(),
    /** Host header values accepted. Default: loopback names when listening on loopback, otherwise publicBaseUrl's host. */
    allowedHosts: z.array(z.string()).optional(),
    /** Origin values accepted when a request carries Origin. Default: loopback origins only. */
    allowedOrigins: z.array(z.string()).default([]),
    limits: z
      .object({
        maxBodyBytes: z
          .number()
          .int()
          .positive()
          .default(4 * 1024 * 1024),
        requestTimeoutMs: z.number().int().positive().default(60_000),
        /** Longest pause between two chunks of a request body (ms); past it: BODY_TIMEOUT, connection closed. */
        bodyIdleTimeoutMs: z.number().int().positive().default(10_000),
        /** Longest time for a whole request body (ms); past it: BODY_TIMEOUT, connection closed. */
        bodyTimeoutMs: z.number().int().positive().default(30_000),
        /** A request refused from its headers (unauthenticated) has at most this much body drained, then the connection is closed. */
        unauthenticatedBodyBytes: z.number().int().min(0).default(65_536),
        /** Longest message a backend may send (one SSE event, one stdio line); beyond it: dropped, UPSTREAM_FRAME_TOO_LARGE, stream/child ended. */
        maxBackendMessageBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024),
        /** A GET stream that carries no message for this long is ended (ms; keep-alive comments do not count; 0 = never). */
        streamIdleTimeoutMs: z.number().int().min(0).default(300_000),
        /** The limits stage: rates, concurrency, sessions and streams (docs/limits.md). */
        ...limitsStageFields,
      })
      .strict()
      .default({
        maxBodyBytes: 4 * 1024 * 1024,
        requestTimeoutMs: 60_000,
        bodyIdleTimeoutMs: 10_000,
        bodyTimeoutMs: 30_000,
        unauthenticatedBodyBytes: 65_536,
        maxBackendMessageBytes: 16 * 1024 * 1024,
        streamIdleTimeoutMs: 300_000,
        routes: {},
        sessionIdleSeconds: 3600,
      }),
    /** Shared state for replicas (session revocations, limits counters): a Redis server (docs/configuration.md). */
    redis: redisSchema.optional(),
    sessions: z
      .object({
        /** Key material for sealing session ids (≥ 32 characters). Replicas sharing it share sessions. */
        key: secret().refine((s) => s.reveal().length >= 32, "session key must be at least 32 characters"),
        /** Absolute lifetime of a session (s). */
        ttlSeconds: z.number().int().positive().default(86_400),
        /** Where ended sessions are remembered until they expire: this process, or Redis (default when `redis` is set). */
        revocations: z.enum(["memory", "redis"]).optional(),
      })
      .strict(),
    logging: z
      .object({ level: z.enum(["debug", "info", "warn", "error", "silent"]).default("info") })
      .strict()
      .default({ level: "info" }),
    servers: z
      .record(z.string().regex(serverName, "server names are 1-64 of [A-Za-z0-9._-]"), serverSchema)
      .refine((s) => Object.keys(s).length > 0, "at least one server is required"),
    /** Routes composing several servers into one MCP server at /mcp/{virtual} (docs/virtual-servers.md). */
    virtualServers: virtualServersSchema.default({}),
    /** Authentication (docs/authentication.md). Required when listening beyond loopback. */
    auth: authSchema.optional(),
    /** Authorization with OPA (docs/authorization.md); `false` allows every authenticated caller. Required with `auth`. */
    authz: z.union([z.literal(false), authzSchema]).optional(),
    /** HashiCorp Vault / OpenBao connection for credentials and ${vault:…} references (docs/credentials.md). */
    vault: vaultConfigSchema.optional(),
    secretCache: secretCacheSchema.optional(),
    /** Argument validation, pinned tool definitions, human approval (docs/governance.md). */
    governance: governanceSchema.prefault({}),
    /** Traces, metrics and the audit log (docs/observability.md). */
    telemetry: telemetrySchema.prefault({}),
    /** REST endpoints under /api/v1 for non-MCP clients, through the same chain (docs/rest-bridge.md). */
    restBridge: restBridgeSchema.optional(),
    /** Operations listener: /healthz, /readyz, /metrics, /config on its own port (loopback by default). */
    admin: adminSchema.prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Deny by default: no anonymous gateway beyond loopback, and no authenticated gateway without a policy.
    if (!c.auth && !isLoopbackHost(c.listen.host)) {
      ctx.addIssue({ code: "custom", path: ["auth"], message: `required when listen.host (${c.listen.host}) is not loopback` });
    }
    if (c.limits.store === "redis" && !c.redis) {
      ctx.addIssue({ code: "custom", path: ["limits", "store"], message: '"redis" needs the top-level redis block' });
    }
    for (const name of Object.keys(c.limits.routes)) {
      if (!Object.hasOwn(c.servers, name)) {
        ctx.addIssue({ code: "custom", path: ["limits", "routes", name], message: `no server "${name}" is configured` });
      }
    }
    for (const [name, v] of Object.entries(c.virtualServers)) {
      const path = ["virtualServers", name];
      if (Object.hasOwn(c.servers, name))
        ctx.addIssue({ code: "custom", path, message: `"${name}" is also a server: route names must be unique` });
      v.servers.forEach((m, i) => {
        if (!Object.hasOwn(c.servers, m))
          ctx.addIssue({ code: "custom", path: [...path, "servers", i], message: `no server "${m}" is configured` });
        // A member name holding the separator would make "a__b__tool" ambiguous.
        if (m.includes(v.separator))
          ctx.addIssue({ code: "custom", path: [...path, "servers", i], message: `"${m}" contains the separator "${v.separator}"` });
        if (v.servers.indexOf(m) !== i) ctx.addIssue({ code: "custom", path: [...path, "servers", i], message: `"${m}" is listed twice` });
      });
    }
    if (c.sessions.revocations === "redis" && !c.redis) {
      ctx.addIssue({ code: "custom", path: ["sessions", "revocations"], message: '"redis" needs the top-level redis block' });
    }
    if (c.auth && c.authz === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["authz"],
        message: "required with auth: configure a policy engine, or authz: false to allow every authenticated caller",
      });
    }
    for (const [name, s] of Object.entries(c.servers)) {
      if (s.credentials && Object.keys(s.credentials.inject.env).length > 0 && !("command" in s)) {
        ctx.addIssue({
          code: "custom",
          path: ["servers", name, "credentials", "inject", "env"],
          message: "env injection is for stdio servers only",
        });
      }
      if (s.credentials && "vault" in s.credentials.from && !c.vault) {
        ctx.addIssue({
          code: "custom",
          path: ["servers", name, "credentials", "from"],
          message: "a vault source needs the top-level vault block",
        });
      }
    }
  });

export type GatewayConfig = z.output<typeof configSchema>;
export type ServerConfig = z.output<typeof serverSchema>;
export type HttpServerConfig = z.output<typeof httpServerSchema>;
export type SseServerConfig = z.output<typeof sseServerSchema>;
export type StdioServerConfig = z.output<typeof stdioServerSchema>;

export function upstreamKind(s: ServerConfig): "streamable-http" | "sse" | "stdio" {
  if ("url" in s) return "streamable-http";
  if ("sse" in s) return "sse";
  return "stdio";
}
