// @mcp-edge/adapter-kit: the hosting code the adapters share (stateless Streamable HTTP, stdio, bounded
// body reading), so each adapter keeps only what is its own (tools, credentials from headers or env).

export { type ClientCacheOptions, clientCache, headerValue } from "./client-cache.ts";
export { type HostCli, runHostCli } from "./host-cli.ts";
export {
  type ConnectableServer,
  type RefusalStyle,
  type StatelessHttp,
  type StatelessHttpOptions,
  serveStatelessHttp,
  serveStdioUntilEnd,
} from "./http-host.ts";
export { readBoundedBody } from "./read-body.ts";
export { retryAfterMs } from "./retry-after.ts";
export { structuredResult, toolConfigCache, toolRunner } from "./tool-config.ts";
