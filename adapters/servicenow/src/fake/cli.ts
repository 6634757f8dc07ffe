#!/usr/bin/env node
// servicenow-fake: run the stateful ServiceNow Table API fake (docs/table-api.md) for a laptop or the
// quickstart. Prints {"url": …} on stdout once listening. Usage: servicenow-fake [--host H] [--port N]

import { parseArgs } from "node:util";
import { startServiceNowFake } from "./server.ts";

const { values } = parseArgs({
  options: { host: { type: "string", default: "127.0.0.1" }, port: { type: "string", default: "0" }, "token-ttl": { type: "string" } },
});
const fake = await startServiceNowFake({
  host: values.host,
  port: Number(values.port),
  ...(values["token-ttl"] ? { tokenTtlSeconds: Number(values["token-ttl"]) } : {}),
});
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
const stop = () => void fake.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
