// Entry of `@mcp-edge/adapter-catalyst-center`: the typed intent-API client other packages use
// (workflows, tests) and the MCP server factory of the adapter.

export {
  CatalystCenterClient,
  type CatalystCenterClientOptions,
  CatalystCenterError,
  type CommandResult,
  type DeploymentStatus,
  type DeployTarget,
  type DeviceQuery,
  deploymentIdOf,
  type Json,
  type NetworkDevice,
  type TargetType,
  type Task,
} from "./client.ts";
export {
  authFromEnv,
  authFromHeaders,
  type CatalystAuth,
  CREDENTIAL_HEADERS,
  type HostOptions,
  type HttpAdapter,
  serveHttp,
  serveStdio,
} from "./host.ts";
export {
  AdapterRefusal,
  type ClientProvider,
  createCatalystServer,
  MAX_OUTPUT_CHARS,
  MissingCredentialsError,
  READ_ONLY_COMMANDS,
  SERVER_NAME,
  siteContains,
  toolError,
} from "./server.ts";
