// Entry of `@mcp-edge/adapter-servicenow/fake`: a stateful ServiceNow Table API fake for tests and the
// quickstart (behaviour documented in docs/table-api.md).

export {
  DEFAULT_OAUTH_CLIENTS,
  DEFAULT_USERS,
  type SeenRequest,
  type ServiceNowFake,
  type ServiceNowFakeOptions,
  startServiceNowFake,
} from "./server.ts";
export { CHANGE_STATES, type FakeOAuthClient, type FakeRecord, FakeStore, type FakeUser, TABLES } from "./store.ts";
