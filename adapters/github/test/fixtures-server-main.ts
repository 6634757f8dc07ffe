// Runs @octokit/fixtures-server (GitHub's recorded API exchanges) on 127.0.0.1 with a free port: its
// own CLI has no host option and binds every interface, so this mounts its express middleware on a
// loopback listener instead. Prints `{"url": …}` once listening.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import fixturesServer from "@octokit/fixtures-server";
import express from "express";

const server = createServer();
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const app = express();
  app.use(fixturesServer({ fixturesUrl: url, logLevel: "error", ttl: 120_000 }));
  server.on("request", app);
  process.stdout.write(`${JSON.stringify({ url })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
