// Builds a running gateway from a validated config: the authn, authz and credentials stages, the
// audit log and (optionally) OpenTelemetry, the metadata and /metrics endpoints. The CLI, the
// quickstart and the integration tests start configured gateways through this one function.

import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { mountRestBridge } from "./bridge/mount.ts";
import type { Filter } from "./chain/types.ts";
import type { GatewayConfig } from "./config/schema.ts";
import { upstreamKind } from "./config/schema.ts";
import {
  type AuthnFilter,
  createAuthnFilter,
  type DevMode,
  handleProtectedResourceMetadata,
  prepareDevMode,
} from "./filters/authn/index.ts";
import { type Authorizer, createAuthzFilter, createAuthzFromConfig } from "./filters/authz/index.ts";
import { type CredentialsFilter, createCredentialsFilter } from "./filters/credentials/index.ts";
import { startGovernance } from "./filters/governance.ts";
import { createTaskBindingFilter } from "./filters/tasks/task-binding.ts";
import type { ExtraRoute } from "./listener/http-server.ts";
import { startGovernanceAudit } from "./log/audit-governance.ts";
import { type AuditSink, createAuditSink, startAudit } from "./log/index.ts";
import { createLogger, type Logger } from "./log/logger.ts";
import { createSecretCache } from "./secrets/from-config.ts";
import { bindListener, CONFIGURED_STAGES, createGateway, type Gateway, type GatewayOptions } from "./server.ts";

export interface StartOptions {
  /** Directory that relative paths in the config are resolved against (the config file's folder). */
  baseDir: string;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Extra filters (tests). */
  filters?: Filter[];
  /** Hooks of the reloadable runtime (runtime.ts): adopt its socket, reuse unchanged routes' upstreams. */
  gateway?: Pick<GatewayOptions, "adoptUrl" | "upstreamFor">;
}

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  /** Dev-mode text for the operator's terminal (the generated API keys), when auth.dev is on. */
  readonly banner: string | undefined;
  readonly authn: AuthnFilter | undefined;
  /** GET /metrics (Prometheus), served on the admin listener, when telemetry exports to Prometheus. */
  readonly metricsHandler: ExtraRoute["handle"] | undefined;
  /** The audit sink, when audit is on (the runtime records reloads in it). */
  readonly audit: AuditSink | undefined;
  close(): Promise<void>;
}

/** Start a gateway from config. Rejects (and leaves nothing running) when a stage cannot start. */
export async function startConfiguredGateway(config: GatewayConfig, opts: StartOptions): Promise<RunningGateway> {
  const logger = opts.logger ?? createLogger({ level: config.logging.level, serviceName: config.telemetry.serviceName });
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  try {
    const filters: Filter[] = [];
    const extraRoutes: ExtraRoute[] = [];
    // Audit and telemetry keep to this gateway's events even when several share the process.
    const gatewayId = randomUUID();
    let metricsHandler: ExtraRoute["handle"] | undefined;

    // Audit and telemetry subscribe to the diagnostics events before any traffic.
    const tel = config.telemetry;
    let audit: AuditSink | undefined;
    if (tel.audit.enabled) {
      const sink: AuditSink = createAuditSink(tel.audit);
      audit = sink;
      const stop = startAudit(sink, { ...tel.audit, serviceName: tel.serviceName, gatewayId });
      const stopGovernance = startGovernanceAudit((r) => sink.write(r), { serviceName: tel.serviceName, gatewayId });
      closers.push(async () => {
        stop();
        stopGovernance();
        await sink.close?.();
      });
    }
    if (tel.enabled) {
      // Loaded only when enabled: with telemetry off the gateway never loads OpenTelemetry.
      const { startTelemetry } = await import("./otel/index.ts");
      const t = startTelemetry({ ...tel, logger, gatewayId });
      closers.push(() => t.shutdown());
      // Served by the admin listener (runtime.ts), not on the MCP port.
      metricsHandler = t.metricsHandler;
    }

    // The socket is bound first (answering 503 until the gateway is ready), so the public URL is known
    // and every stage below is built complete: no stage is filled in later.
    // A config reload (runtime.ts) hands connections of its one socket to this generation instead (adoptUrl).
    const adopted = opts.gateway?.adoptUrl;
    const bound = adopted === undefined ? await bindListener(config) : undefined;
    if (bound) {
      closers.push(
        () =>
          new Promise<void>((resolve) => {
            if (!bound.server.listening) return resolve();
            bound.server.close(() => resolve());
            bound.server.closeAllConnections();
          }),
      );
    }
    const publicBaseUrl = config.publicBaseUrl ?? adopted ?? bound!.url;

    // authn: from headers alone, with the resource URLs derived from the public URL.
    let authn: AuthnFilter | undefined;
    let dev: DevMode | undefined;
    const auth = config.auth;
    if (auth) {
      if (auth.dev) dev = prepareDevMode(config.listen.host, { groups: ["admin"], subject: "quickstart-developer" });
      authn = createAuthnFilter({ auth, publicBaseUrl, extraApiKeys: dev?.keys, log: logger });
      const a = authn;
      closers.push(async () => {
        await a.close();
      });
      filters.push(authn);
      const routes = [...Object.keys(config.servers), ...Object.keys(config.virtualServers)];
      const prm = (req: IncomingMessage, res: ServerResponse) => {
        const r = handleProtectedResourceMetadata(req.method ?? "GET", (req.url ?? "/").split("?")[0]!, {
          auth,
          publicBaseUrl,
          routes,
        }) ?? { status: 404, headers: {}, body: "" };
        res.writeHead(r.status, r.headers).end(r.body);
      };
      extraRoutes.push(
        { path: "/.well-known/oauth-protected-resource", handle: prm },
        { path: "/.well-known/oauth-protected-resource/", handle: prm },
      );
    }

    // authz: the policy engine must load, or the gateway does not start.
    let authorizer: Authorizer | undefined;
    if (config.authz) {
      authorizer = await createAuthzFromConfig(config.authz, { logger });
      const a = authorizer;
      closers.push(() => a.close());
      filters.push(
        createAuthzFilter({
          authorizer,
          servers: Object.fromEntries(Object.entries(config.servers).map(([n, s]) => [n, s.authz])),
          resourceMetadataUrl: (ex) =>
            publicBaseUrl ? `${publicBaseUrl}/.well-known/oauth-protected-resource/mcp/${ex.server}` : undefined,
        }),
      );
    }

    // pins, validation, approval (docs/governance.md): the pin store must open, or the gateway does not start.
    const governance = await startGovernance(config, { baseDir: opts.baseDir, gatewayId, logger });
    closers.push(() => governance.close());
    filters.push(...governance.filters);

    // credentials: required secrets are fetched now; a failure is a start-up error.
    const withCredentials = Object.entries(config.servers).filter(([, s]) => s.credentials);
    let credentials: CredentialsFilter | undefined;
    if (withCredentials.length > 0) {
      const cache = await createSecretCache(
        { vault: config.vault, secretCache: config.secretCache },
        { baseDir: opts.baseDir, env: opts.env, logger },
      );
      credentials = createCredentialsFilter({
        servers: Object.fromEntries(withCredentials.map(([n, s]) => [n, { transport: upstreamKind(s), credentials: s.credentials! }])),
        cache,
        logger,
      });
      const c = credentials;
      closers.push(() => c.close());
      await credentials.start();
      filters.push(credentials);
    }

    // MCP tasks belong to the principal whose tools/call created them (filters/tasks/task-binding.ts).
    filters.push(createTaskBindingFilter());
    filters.push(...(opts.filters ?? []));
    // REST bridge (/api/v1, gateway/src/bridge): its calls go through this gateway's own MCP endpoint.
    const bridge = await mountRestBridge(config, extraRoutes, () => gateway.url);
    const gateway = createGateway(config, {
      ...opts.gateway,
      [CONFIGURED_STAGES]: true,
      gatewayId,
      filters,
      logger,
      extraRoutes,
      bound,
      beforeReady: async () => {
        if (authn) {
          for (const r of await authn.warmUp()) {
            if (!r.ok)
              logger.warn("identity provider not reachable at start; will retry on demand", {
                "url.full": r.issuer,
                "error.message": r.error,
              });
          }
        }
      },
    });
    closers.push(() => gateway.close());
    // Closed first (closers run in reverse): its sessions end through the gateway while it still listens.
    if (bridge) closers.push(() => bridge.close());
    const url = await gateway.listen();
    return { gateway, url, banner: dev?.banner(url), authn, metricsHandler, audit, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
