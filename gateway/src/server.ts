// Builds a gateway from a validated config: routes and their upstreams, the filter chain, the
// relay and the HTTP listener. The one way to run a configured gateway is `startGateway` (assemble.ts,
// also used by the CLI); `createGateway` is its low-level part and refuses a config whose stages
// (auth, authz, credentials, telemetry) it would otherwise silently leave out.

import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Chain } from "./chain/chain.ts";
import type { Filter } from "./chain/types.ts";
import { ConfigError } from "./config/load.ts";
import { type GatewayConfig, type ServerConfig, upstreamKind } from "./config/schema.ts";
import type { Secret } from "./config/secret.ts";
import { limitsFromConfig } from "./filters/limits/index.ts";
import { Guards, isLoopbackHost } from "./listener/guards.ts";
import { type ExtraRoute, Listener } from "./listener/http-server.ts";
import { jsonLogger, type Logger } from "./logger.ts";
import { Relay, type Route } from "./relay.ts";
import { MemoryRevocations, RedisRevocations, type RevocationStore } from "./session/revocations.ts";
import { SessionSealer } from "./session/sealed-session.ts";
import { SessionStage } from "./session/session-stage.ts";
import { SharedStore } from "./state/redis.ts";
import { LegacySseUpstream } from "./upstream/legacy-sse.ts";
import { StdioUpstream } from "./upstream/stdio.ts";
import { StreamableHttpUpstream } from "./upstream/streamable-http.ts";
import type { Upstream } from "./upstream/types.ts";
import { VirtualRoutes } from "./virtual/virtual-routes.ts";

export { type RunningGateway, type StartOptions, startConfiguredGateway as startGateway } from "./assemble.ts";

/**
 * Set by startGateway (assemble.ts) only: the config's own stages are among `filters`. Without it,
 * createGateway refuses a config that asks for any of them, rather than serve an open gateway.
 */
export const CONFIGURED_STAGES: unique symbol = Symbol("mcp-gateway.configured-stages");

/** The settings of `config` that need a stage createGateway does not build itself. */
export function stagesRequiredBy(config: GatewayConfig): string[] {
  const out: string[] = [];
  if (config.auth) out.push("auth");
  if (config.authz) out.push("authz");
  for (const [name, s] of Object.entries(config.servers)) if (s.credentials) out.push(`servers.${name}.credentials`);
  if (config.telemetry.enabled) out.push("telemetry.enabled");
  // The audit log (on by default) is a diagnostics subscriber, not a stage: createGateway publishes the
  // events it records, and startGateway subscribes the writer. Not refused, so plain configs still build.
  return out;
}

export interface GatewayOptions {
  /** Internal: see CONFIGURED_STAGES. */
  [CONFIGURED_STAGES]?: true;
  /** Filters for the chain (authn, authz, credentials …). The session stage is built in. */
  filters?: Filter[];
  logger?: Logger;
  extraRoutes?: ExtraRoute[];
  /** Identity on this gateway's diagnostics events (audit/telemetry of co-hosted gateways stay apart). */
  gatewayId?: string;
  /** Runs after the socket is bound and before the gateway reports ready (e.g. warming up a stage). */
  beforeReady?: (url: string) => Promise<void>;
  /**
   * Serve connections handed in with `server.emit("connection", socket)` under this URL instead of binding a
   * socket (config reload: one listening socket, a new gateway generation behind it; see runtime.ts).
   */
  adoptUrl?: string;
  /** Supplies each route's upstream (config reload reuses the previous generation's for unchanged routes). */
  upstreamFor?: (name: string, server: ServerConfig, build: () => Upstream) => Upstream;
  /** A socket bound already by bindListener (startGateway binds first so stages can know the URL). */
  bound?: BoundListener;
}

export interface Gateway {
  readonly server: Server;
  readonly routes: ReadonlyMap<string, Route>;
  /** Base URL once listening, e.g. http://127.0.0.1:8080 */
  url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Header names are case-insensitive (lower-cased, as undici sends them); environment names are not. */
function revealAll(h: Record<string, Secret> | undefined, lowerCase = true): Record<string, string> {
  const out: Record<string, string> = {};
  if (h) for (const [k, v] of Object.entries(h)) out[lowerCase ? k.toLowerCase() : k] = v.reveal();
  return out;
}

function buildUpstream(name: string, s: ServerConfig, logger: Logger, maxMessageBytes?: number): Upstream {
  switch (upstreamKind(s)) {
    case "streamable-http": {
      const c = s as Extract<ServerConfig, { url: string }>;
      return new StreamableHttpUpstream({ url: c.url, headers: revealAll(c.headers), maxMessageLength: maxMessageBytes });
    }
    case "sse": {
      const c = s as Extract<ServerConfig, { sse: string }>;
      return new LegacySseUpstream({ server: name, url: c.sse, headers: revealAll(c.headers), logger, maxMessageLength: maxMessageBytes });
    }
    case "stdio": {
      const c = s as Extract<ServerConfig, { command: string }>;
      return new StdioUpstream({
        server: name,
        command: c.command,
        args: c.args,
        env: revealAll(c.env, false),
        inheritEnv: c.inheritEnv,
        cwd: c.cwd,
        idleTimeoutMs: c.idleTimeoutMs,
        logger,
        maxLineBytes: maxMessageBytes,
        maxChildren: c.maxChildren,
        maxChildrenPerPrincipal: c.maxChildrenPerPrincipal,
      });
    }
  }
}

const SERVER_OPTIONS = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000 };

/** A listening socket without a gateway yet: it answers 503 until createGateway takes it over. */
export interface BoundListener {
  readonly server: Server;
  readonly url: string;
}

function urlOf(server: Server): string {
  const a = server.address() as AddressInfo;
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

function listenOn(server: Server, config: GatewayConfig): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Bind the configured address first, so stages that need the public URL (authn) are built with it. */
export async function bindListener(config: GatewayConfig): Promise<BoundListener> {
  const server = createServer(SERVER_OPTIONS, (_req, res) => {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" }).end('{"status":"starting"}');
  });
  await listenOn(server, config);
  return { server, url: urlOf(server) };
}

export function createGateway(config: GatewayConfig, opts: GatewayOptions = {}): Gateway {
  if (!opts[CONFIGURED_STAGES]) {
    const needs = stagesRequiredBy(config);
    if (needs.length > 0) {
      throw new ConfigError(
        "createGateway does not build the authentication, authorization, credential or telemetry stages this config asks for; start it with startGateway(config, { baseDir }) instead",
        needs.map((n) => `${n}: set, needs startGateway`),
      );
    }
  }
  const logger = opts.logger ?? jsonLogger(config.logging.level);
  const routes = new Map<string, Route>();
  for (const [name, s] of Object.entries(config.servers)) {
    const build = () => buildUpstream(name, s, logger, config.limits.maxBackendMessageBytes);
    const upstream = opts.upstreamFor ? opts.upstreamFor(name, s, build) : build();
    routes.set(name, { name, upstream, timeoutMs: s.timeoutMs ?? config.limits.requestTimeoutMs });
  }
  const sealer = new SessionSealer(config.sessions.key);
  // Shared state (Redis) when replicas must agree: ended sessions, and the limits stage's counters.
  const shared = config.redis
    ? new SharedStore(
        {
          url: config.redis.url?.reveal(),
          socketPath: config.redis.socketPath,
          keyPrefix: config.redis.keyPrefix,
          commandTimeoutMs: config.redis.commandTimeoutMs,
        },
        logger,
      )
    : undefined;
  const revocations: RevocationStore =
    shared && (config.sessions.revocations ?? "redis") === "redis" ? new RedisRevocations(shared) : new MemoryRevocations();
  const limits = limitsFromConfig(config.limits, shared);
  const sessions = new SessionStage({ sealer, ttlSeconds: config.sessions.ttlSeconds, routes, revocations, logger });
  const chain = new Chain([...(opts.filters ?? []), sessions.filter, ...(limits ? [limits] : [])]);
  const relay = new Relay({ chain, sessions, logger, streamIdleTimeoutMs: config.limits.streamIdleTimeoutMs });
  const guards = new Guards({
    listenHost: config.listen.host,
    allowedHosts: config.allowedHosts,
    allowedOrigins: config.allowedOrigins,
    publicBaseUrl: config.publicBaseUrl,
  });
  if (!isLoopbackHost(config.listen.host) && !config.allowedHosts && !config.publicBaseUrl) {
    logger.warn("listening beyond loopback with no allowedHosts or publicBaseUrl: Host header is not checked");
  }
  // Virtual servers call this gateway's own member routes, so every member's chain applies (docs/virtual-servers.md).
  const virtual =
    Object.keys(config.virtualServers).length > 0
      ? new VirtualRoutes({
          servers: config.virtualServers,
          sealer,
          ttlSeconds: config.sessions.ttlSeconds,
          requestTimeoutMs: config.limits.requestTimeoutMs,
          gatewayUrl: () => gw.url,
          apiKeyHeader: config.auth?.apiKeyHeader,
          logger,
        })
      : undefined;
  let ready = false;
  const listener = new Listener({
    gatewayId: opts.gatewayId ?? randomUUID(),
    relay,
    sessions,
    guards,
    routes,
    logger,
    maxBodyBytes: config.limits.maxBodyBytes,
    bodyIdleTimeoutMs: config.limits.bodyIdleTimeoutMs,
    bodyTimeoutMs: config.limits.bodyTimeoutMs,
    unauthenticatedBodyBytes: config.limits.unauthenticatedBodyBytes,
    streamIdleTimeoutMs: config.limits.streamIdleTimeoutMs,
    extraRoutes: opts.extraRoutes ?? [],
    isReady: () => ready,
    virtual,
  });
  let server: Server;
  if (opts.bound) {
    server = opts.bound.server;
    server.removeAllListeners("request");
    server.on("request", listener.handle);
  } else {
    server = createServer(SERVER_OPTIONS, listener.handle);
  }
  const gw: Gateway = {
    server,
    routes,
    url: opts.bound?.url ?? "",
    listen: async () => {
      if (opts.adoptUrl) gw.url = opts.adoptUrl;
      else {
        if (!server.listening) await listenOn(server, config);
        gw.url = urlOf(server);
      }
      // Until ready, MCP routes answer 503: nothing is served before every stage is in place.
      await shared?.ready();
      await opts.beforeReady?.(gw.url);
      ready = true;
      return gw.url;
    },
    close: async () => {
      // Before readiness drops: the virtual sessions end their member sessions through the member routes.
      await virtual?.close();
      ready = false;
      listener.closeStreams();
      await Promise.all([...routes.values()].map((r) => r.upstream.close()));
      const closed = opts.adoptUrl ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Let requests in flight finish (bounded), then cut whatever is left.
      for (let i = 0; i < 100 && listener.inflight > 0; i++) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
      await shared?.close();
    },
  };
  return gw;
}
