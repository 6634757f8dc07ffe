// Authorization stage (issue 4): build the engines from validated config and expose the filter.
// The lead wires createAuthzFromConfig() + createAuthzFilter() into the chain (see docs/authorization.md).

import type { AuthzConfig, AuthzEngineConfig } from "../../config/schema-authz.ts";
import { Authorizer } from "./authorizer.ts";
import type { DecisionLogSink } from "./decision-log.ts";
import { SidecarEngine } from "./sidecar-engine.ts";
import type { AuthzEngine, AuthzLogger } from "./types.ts";
import { WasmEngine } from "./wasm-engine.ts";

export { ActionResolver, actionFromAnnotations, type ServerAuthzSettings } from "./actions.ts";
export { Authorizer, type AuthorizerOptions, type FilterOutcome, type Outcome } from "./authorizer.ts";
export { type DecisionLogRecord, type DecisionLogSink, stdoutSink } from "./decision-log.ts";
export { AUTHZ_OUTCOME, type AuthzFilter, type AuthzFilterOptions, createAuthzFilter, stepUpChallenge } from "./filter.ts";
export { SidecarEngine } from "./sidecar-engine.ts";
export * from "./types.ts";
export { DEFAULT_BUNDLE_PATH, WasmEngine } from "./wasm-engine.ts";

export async function createEngine(cfg: AuthzEngineConfig, logger?: AuthzLogger): Promise<AuthzEngine> {
  if (cfg.type === "sidecar") {
    return new SidecarEngine({
      url: cfg.url,
      timeoutMs: cfg.timeoutMs,
      connections: cfg.connections,
      ...(cfg.token ? { token: cfg.token } : {}),
      ...(cfg.revision ? { revision: cfg.revision } : {}),
    });
  }
  return WasmEngine.create({
    ...(cfg.bundle ? { bundlePath: cfg.bundle } : {}),
    watch: cfg.watch,
    debounceMs: cfg.debounceMs,
    ...(logger ? { logger } : {}),
  });
}

/**
 * Build the Authorizer from the `authz` config block. Rejects when the enforced engine cannot start
 * (bad bundle): the gateway must then refuse to start. A failing shadow engine is logged and skipped.
 */
export async function createAuthzFromConfig(
  cfg: AuthzConfig,
  opts: { sink?: DecisionLogSink; logger?: AuthzLogger } = {},
): Promise<Authorizer> {
  const engine = await createEngine(cfg.engine, opts.logger);
  let shadow: AuthzEngine | undefined;
  if (cfg.shadow) {
    try {
      shadow = await createEngine(cfg.shadow, opts.logger);
    } catch (e) {
      opts.logger?.error("authz: shadow policy failed to load; running without it", { "error.message": (e as Error).message });
    }
  }
  return new Authorizer({
    engine,
    shadow,
    cache: cfg.cache,
    decisionLog: {
      enabled: cfg.decisionLog.enabled,
      includeArguments: cfg.decisionLog.includeArguments,
      includeClaims: cfg.decisionLog.includeClaims,
      redact: cfg.decisionLog.redact,
      ...(cfg.decisionLog.redactKeys !== undefined
        ? { redactKeys: cfg.decisionLog.redactKeys === "" ? undefined : new RegExp(cfg.decisionLog.redactKeys, "i") }
        : {}),
      labels: cfg.decisionLog.labels,
    },
    ...(opts.sink ? { sink: opts.sink } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}
