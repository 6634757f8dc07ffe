// One way to build a gateway (issue 10): the package's main export must enforce every stage the config
// asks for, or refuse the config. createGateway used to ignore `auth`, `authz` and credentials and
// serve an open gateway; now it refuses such a config, and startGateway (what the CLI runs) enforces it.

import { createHash, randomBytes } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/config/load.ts";
import { createGateway, type RunningGateway, startGateway } from "../src/server.ts";
import { INIT, post, stdioDemo, TEST_KEY } from "./helpers.ts";

const key = randomBytes(24).toString("base64url");
const base = {
  listen: { host: "127.0.0.1", port: 0 },
  sessions: { key: TEST_KEY },
  logging: { level: "error" },
  servers: { local: stdioDemo() },
};
const withAuth = {
  ...base,
  auth: { apiKeys: [{ id: "k1", sha256: createHash("sha256").update(key).digest("hex"), subject: "robot" }] },
  authz: false,
};

let running: RunningGateway | undefined;
afterAll(async () => {
  await running?.close();
});

it("createGateway refuses a config that demands authentication, authorization or credentials", () => {
  expect(() => createGateway(parseConfig(withAuth, process.cwd()))).toThrow(ConfigError);
  expect(() => createGateway(parseConfig(withAuth, process.cwd()))).toThrow(/auth: set, needs startGateway/);
  const withCredentials = parseConfig(
    {
      ...base,
      servers: { local: { ...stdioDemo(), credentials: { from: { env: { k: "SOME_KEY" } }, inject: { env: { K: "{k}" } } } } },
    },
    process.cwd(),
  );
  expect(() => createGateway(withCredentials)).toThrow(/servers\.local\.credentials/);
  // A config without such stages is still served as before.
  const g = createGateway(parseConfig(base, process.cwd()));
  expect(g.routes.has("local")).toBe(true);
});

it("startGateway, exported beside it, enforces the same config: no key → 401, the key → served", async () => {
  running = await startGateway(parseConfig(withAuth, process.cwd()), { baseDir: process.cwd(), env: {} });
  const anonymous = await post(`${running.url}/mcp/local`, INIT);
  expect(anonymous.status).toBe(401);
  await anonymous.text();
  const ok = await post(`${running.url}/mcp/local`, INIT, { authorization: `Bearer ${key}` });
  expect(ok.status).toBe(200);
  expect(ok.headers.get("mcp-session-id")).toBeTruthy();
  await ok.text();
});
