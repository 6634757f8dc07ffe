// Opt-in (npm run test:keycloak): a real Keycloak imports deploy/keycloak/mcp-realm.json, and a token it
// issues to a realm user is accepted by the gateway running examples/compose/gateway.yaml (after the Vault
// seed), which injects the seeded secret. Slow: Keycloak's first start builds its Quarkus app (2–5 min).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBao, freePort } from "../../gateway/test/credentials/bao.ts";
import { type ComposeStack, startComposeStack } from "./stack.ts";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const timings: Record<string, number> = {};

describe("real Keycloak + the compose gateway config", () => {
  let kc: ChildProcess | undefined;
  let kcOut = "";
  let issuer = "";
  let stack: ComposeStack;
  const t0 = Date.now();

  beforeAll(async () => {
    const home = execFileSync("bash", [join(repo, "deploy/keycloak/install-keycloak.sh")], { encoding: "utf8" }).trim();
    timings.installMs = Date.now() - t0;
    mkdirSync(join(home, "data/import"), { recursive: true });
    copyFileSync(join(repo, "deploy/keycloak/mcp-realm.json"), join(home, "data/import/mcp-realm.json"));
    const port = await freePort();
    // The issuer the gateway expects is the one Keycloak stamps in tokens, whoever fetched them (--hostname).
    issuer = `http://127.0.0.1:${port}/realms/mcp`;
    const started = Date.now();
    kc = spawn(
      join(home, "bin/kc.sh"),
      [
        "start-dev",
        "--http-host=127.0.0.1",
        `--http-port=${port}`,
        "--import-realm",
        "--db=dev-mem",
        `--hostname=http://127.0.0.1:${port}`,
      ],
      {
        env: { ...process.env, KC_BOOTSTRAP_ADMIN_USERNAME: "admin", KC_BOOTSTRAP_ADMIN_PASSWORD: "admin" },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      },
    );
    kc.stdout!.on("data", (d) => (kcOut += d));
    kc.stderr!.on("data", (d) => (kcOut += d));
    const baoBin = findBao();
    if (!baoBin) throw new Error("bao is needed (bash .ci/tools.sh builds it)");
    stack = await startComposeStack(baoBin, issuer);
    const deadline = Date.now() + 8 * 60_000;
    for (;;) {
      if (kc.exitCode !== null) throw new Error(`Keycloak exited ${kc.exitCode}: ${kcOut.slice(-4000)}`);
      const ok = await fetch(`${issuer}/.well-known/openid-configuration`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`Keycloak not ready: ${kcOut.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    timings.keycloakReadyMs = Date.now() - started;
  }, 10 * 60_000);

  afterAll(async () => {
    await stack?.close();
    if (kc?.pid && kc.exitCode === null) {
      process.kill(-kc.pid, "SIGTERM");
      await new Promise((r) => (kc!.exitCode !== null ? r(null) : kc!.once("exit", r)));
    }
    timings.totalMs = Date.now() - t0;
    process.stderr.write(`keycloak opt-in timings: ${JSON.stringify(timings)}\n`);
  }, 120_000);

  async function passwordToken(user: string): Promise<Record<string, unknown>> {
    const r = await fetch(`${issuer}/protocol/openid-connect/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", client_id: "mcp-client", username: user, password: `${user}-dev-password` }),
    });
    expect(r.status).toBe(200);
    return (await r.json()) as Record<string, unknown>;
  }

  it("the realm was imported: the discovery document names the one issuer", async () => {
    expect(kcOut).toContain("Realm 'mcp' imported");
    const d = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string };
    expect(d.issuer).toBe(issuer);
  });

  it("a realm user's token carries the issuer, the gateway audience and the groups claim", async () => {
    const t = await passwordToken("alice");
    const claims = JSON.parse(Buffer.from(String(t.access_token).split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    expect(claims.iss).toBe(issuer);
    expect(claims.aud).toEqual(stack.resource);
    expect(claims.groups).toEqual(["admin"]);
  });

  it("the gateway on the compose config accepts it, OPA allows, the seeded Vault secret reaches the backend", async () => {
    expect(await stack.validate()).toContain("valid (1 servers)");
    const gw = await stack.startGateway();
    const t = await passwordToken("alice");
    const before = Date.now();
    await stack.callThrough(gw.url, String(t.access_token));
    timings.firstCallMs = Date.now() - before;
    // A token of another realm user without the gateway's audience would be refused; the group decides the rest.
    const anon = await fetch(`${gw.url}/mcp/demo`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(anon.status).toBe(401);
  }, 120_000);
});
