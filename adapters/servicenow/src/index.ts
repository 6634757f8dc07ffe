// Entry of `@mcp-edge/adapter-servicenow`: the typed Table API client other packages use (workflows,
// tests) and the MCP server factory of the adapter.

export { type AuthOptions, type ServiceNowAuth, ServiceNowAuthError } from "./auth.ts";
export {
  CHANGE_STATE,
  type ChangeStateName,
  INCIDENT_STATE,
  type QueryOptions,
  type QueryPage,
  queryValue,
  REFERENCE_FIELDS,
  type RecordFields,
  retryAfterMs,
  ServiceNowClient,
  type ServiceNowClientOptions,
  ServiceNowError,
  type ServiceNowRecord,
} from "./client.ts";
export { authFromEnv, authFromHeaders, CREDENTIAL_HEADERS, type HostOptions, type HttpAdapter, serveHttp, serveStdio } from "./host.ts";
export { type ClientProvider, createServiceNowServer, MissingCredentialsError, SERVER_NAME, toolError } from "./server.ts";
