// Entry of `@mcp-edge/adapter-catalyst-center/fake`: a stateful Catalyst Center fake (devices, sites,
// health, issues, templates, deployments and tasks, command runner) for tests and the quickstart.

export { type CatalystFake, type CatalystFakeOptions, coveredBySchemas, type Exchange, startCatalystFake } from "./server.ts";
export { CatalystState, type FakeDevice, type FakeSite, type FakeTemplate, renderTemplate } from "./state.ts";
