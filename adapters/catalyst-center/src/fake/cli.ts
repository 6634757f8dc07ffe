#!/usr/bin/env node
// catalyst-center-fake: run the stateful Catalyst Center fake for a laptop or the quickstart. Prints
// {"url": …} on stdout once listening. Usage: catalyst-center-fake [--host H] [--port N] [--deployment-ms MS] [--fail]

import { parseArgs } from "node:util";
import { startCatalystFake } from "./server.ts";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "deployment-ms": { type: "string", default: "3000" },
    fail: { type: "boolean", default: false },
  },
});
const fake = await startCatalystFake({
  host: values.host,
  port: Number(values.port),
  deploymentDurationMs: Number(values["deployment-ms"]),
  ...(values.fail ? { failDeployments: true } : {}),
});
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
const stop = () => void fake.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
