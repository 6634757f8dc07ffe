// Integration tests against a real Vault-API server: OpenBao `bao server -dev` on 127.0.0.1 (built by
// tools/openbao/install-bao.sh; skipped with a notice when no binary is found). One server for the
// file; each test uses its own paths. Everything the code under test logged or threw is scanned for
// the secrets at the end.

import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalReply } from "../../src/chain/types.ts";
import { builtinResolvers, resolveReferences } from "../../src/config/references.ts";
import { configSchema } from "../../src/config/schema.ts";
import { credentialsSchema } from "../../src/config/schema-credentials.ts";
import { Secret } from "../../src/config/secret.ts";
import { type CredentialsServer, createCredentialsFilter } from "../../src/filters/credentials/index.ts";
import { jsonLogger } from "../../src/logger.ts";
import { type CacheEvent, SecretCache } from "../../src/secrets/cache.ts";
import { createVaultClient } from "../../src/secrets/from-config.ts";
import { parseConfigWithVault } from "../../src/secrets/load-with-vault.ts";
import { vaultSource } from "../../src/secrets/sources.ts";
import { VaultClient, type VaultClientEvent } from "../../src/secrets/vault-client.ts";
import { isSecretStoreError, SecretStoreError } from "../../src/secrets/vault-errors.ts";
import { prepareVaultResolver } from "../../src/secrets/vault-references.ts";
import { type BaoDev, findBao, freePort, setupAppRole, startBao } from "./bao.ts";
import { CALLER_TOKEN, exchange, principal, viaChain } from "./exchange.ts";
import { OutputCapture } from "./secret-scan.ts";

const BIN = findBao();
if (!BIN) console.warn("credentials/vault.test.ts skipped: no bao binary (run tools/openbao/install-bao.sh or set BAO_BIN)");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SN_V1 = "servicenow-token-v1-1f2e3d4c";
const SN_V2 = "servicenow-token-v2-5a6b7c8d";
const LEGACY_PW = "legacy-kv1-password-99aa88bb";
const GH_ALICE = "github-alice-token-0c0ffee1";
const GH_BOB = "github-bob-token-0badf00d2";
const TEAM_TOKEN = "team-namespace-token-1234abcd";
const ADMIN = "admin-secret-never-reachable-77";

const POLICY = `
path "secret/data/api/*"   { capabilities = ["read"] }
path "secret/data/users/*" { capabilities = ["read"] }
path "kv1/*"               { capabilities = ["read"] }
path "pki/issue/gw"        { capabilities = ["update"] }
path "sys/leases/renew"    { capabilities = ["update"] }
`;

const cap = new OutputCapture();
const scanSecrets: string[] = [SN_V1, SN_V2, LEGACY_PW, GH_ALICE, GH_BOB, TEAM_TOKEN, ADMIN, CALLER_TOKEN];
const clients: VaultClient[] = [];
const caches: SecretCache[] = [];

describe.skipIf(!BIN)("against a real OpenBao dev server", () => {
  let bao: BaoDev;
  let role: { roleId: string; secretId: string };

  function appRoleClient(
    r = role,
    extra: { onEvent?: (e: VaultClientEvent) => void; renewFraction?: number; address?: string } = {},
  ): VaultClient {
    const c = new VaultClient({
      address: extra.address ?? bao.address,
      auth: { method: "approle", roleId: new Secret(r.roleId), secretId: new Secret(r.secretId), mount: "approle" },
      timeoutMs: 2_000,
      renewFraction: extra.renewFraction,
      logger: jsonLogger("debug", cap.write),
      onEvent: (e) => {
        cap.add(e);
        extra.onEvent?.(e);
      },
    });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    bao = await startBao(BIN!);
    scanSecrets.push(bao.rootToken);
    await bao.api("PUT", "sys/policies/acl/gateway", { policy: POLICY });
    await bao.api("POST", "secret/data/api/servicenow", { data: { token: SN_V1 } });
    await bao.api("POST", "secret/data/api/servicenow", { data: { token: SN_V2, extra: { nested: true } } });
    await bao.api("POST", "secret/data/users/alice/github", { data: { token: GH_ALICE } });
    await bao.api("POST", "secret/data/users/bob/github", { data: { token: GH_BOB } });
    await bao.api("POST", "secret/data/admin/github", { data: { token: ADMIN } });
    await bao.api("POST", "sys/mounts/kv1", { type: "kv", options: { version: "1" } });
    await bao.api("POST", "kv1/legacy", { password: LEGACY_PW, ttl: "90s" });
    role = await setupAppRole(bao, "gw", ["gateway"], { token_ttl: "60s", token_max_ttl: "10m" });
    scanSecrets.push(role.secretId);
  }, 30_000);

  afterAll(async () => {
    for (const c of caches) c.close();
    for (const c of clients) c.close();
    await bao?.stop();
    // Invariant 4: nothing the code under test logged, emitted or threw holds a secret.
    cap.assertClean(scanSecrets);
  });

  it("reads KV v2 (latest and pinned versions) and KV v1; 404 and 403 are classified", async () => {
    const events: VaultClientEvent[] = [];
    const c = appRoleClient(role, { onEvent: (e) => events.push(e) });
    const latest = await c.readKv("secret", "api/servicenow", 2);
    expect(latest.data.token).toBe(SN_V2);
    expect(latest.version).toBe(2);
    expect(latest.data.extra).toBe('{"nested":true}');
    const pinned = await c.readKv("secret", "api/servicenow", 2, 1);
    expect(pinned.data.token).toBe(SN_V1);
    expect(pinned.version).toBe(1);
    const v1 = await c.readKv("kv1", "legacy", 1);
    expect(v1.data.password).toBe(LEGACY_PW);
    expect(v1.leaseDurationSeconds).toBe(90); // KV v1 ttl hint
    const missing = await c.readKv("secret", "api/nope", 2).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SecretStoreError);
    expect(missing).toMatchObject({ kind: "not_found", status: 404 });
    const noVersion = await c.readKv("secret", "api/servicenow", 2, 9).catch((e: unknown) => e);
    expect(noVersion).toMatchObject({ kind: "not_found" });
    // Outside the policy: 403, the token itself is still valid → denied, and no re-login storm.
    const denied = await c.readKv("secret", "admin/github", 2).catch((e: unknown) => e);
    expect(denied).toMatchObject({ kind: "denied", status: 403 });
    expect(events.filter((e) => e.type === "relogin")).toHaveLength(0);
    expect(events.filter((e) => e.type === "login")).toHaveLength(1);
    cap.add(missing, noVersion, denied);
  });

  it("the namespace header is sent (OpenBao namespaces)", async () => {
    await bao.api("POST", "sys/namespaces/team", {});
    await bao.api("POST", "sys/mounts/secret", { type: "kv", options: { version: "2" } }, { namespace: "team" });
    await bao.api("POST", "secret/data/app", { data: { token: TEAM_TOKEN } }, { namespace: "team" });
    const c = new VaultClient({ address: bao.address, namespace: "team", auth: { method: "token", token: new Secret(bao.rootToken) } });
    clients.push(c);
    expect((await c.readKv("secret", "app", 2)).data.token).toBe(TEAM_TOKEN);
    const root = new VaultClient({ address: bao.address, auth: { method: "token", token: new Secret(bao.rootToken) } });
    clients.push(root);
    await expect(root.readKv("secret", "app", 2)).rejects.toMatchObject({ kind: "not_found" });
  });

  it("AppRole: logs in, and logs in again after its token is revoked (403)", async () => {
    const events: VaultClientEvent[] = [];
    const c = appRoleClient(role, { onEvent: (e) => events.push(e) });
    expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
    expect(events.filter((e) => e.type === "login")).toHaveLength(1);
    // Revoke every token AppRole issued (the gateway's included).
    await bao.api("PUT", "sys/leases/revoke-prefix/auth/approle/login");
    expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
    expect(events.filter((e) => e.type === "relogin" && e.reason === "denied")).toHaveLength(1);
    expect(events.filter((e) => e.type === "login")).toHaveLength(2);
  });

  it("per-user Vault paths through the filter: each caller gets their own; crafted subjects are refused", async () => {
    const cache = new SecretCache({ sources: { vault: vaultSource(appRoleClient()) }, logger: jsonLogger("debug", cap.write) });
    caches.push(cache);
    const servers: Record<string, CredentialsServer> = {
      github: {
        transport: "streamable-http",
        credentials: credentialsSchema.parse({
          from: { vault: { path: "users/{sub}/github" } },
          inject: { headers: { Authorization: "Bearer {token}" } },
        }),
      },
      servicenow: {
        transport: "streamable-http",
        credentials: credentialsSchema.parse({
          from: { vault: { path: "api/servicenow", version: 1 } },
          inject: { headers: { "X-SN-Token": "{token}" } },
          required: true,
        }),
      },
    };
    const f = createCredentialsFilter({ servers, cache, logger: jsonLogger("debug", cap.write) });
    await f.start();
    const a = exchange("github", principal("alice"), { authorization: `Bearer ${CALLER_TOKEN}` });
    const b = exchange("github", principal("bob"));
    expect(await viaChain(f, a)).toBeUndefined();
    expect(await viaChain(f, b)).toBeUndefined();
    expect(a.upstreamHeaders).toEqual({ Authorization: `Bearer ${GH_ALICE}` });
    expect(b.upstreamHeaders).toEqual({ Authorization: `Bearer ${GH_BOB}` });
    for (const sub of ["../admin", "a/b", "%2e%2e", "..%2fadmin", "admin/../../admin"]) {
      const ex = exchange("github", principal(sub));
      const v = (await viaChain(f, ex)) as LocalReply;
      expect(v.error.code).toBe("CREDENTIALS_SUBJECT_REFUSED");
      expect(ex.upstreamHeaders).toEqual({});
      cap.add(v.error, v.error.toRpcError());
    }
    const pinned = exchange("servicenow", principal("alice"));
    expect(viaChain(f, pinned)).toBeUndefined(); // warmed at start: served synchronously
    expect(pinned.upstreamHeaders).toEqual({ "X-SN-Token": SN_V1 });
  });

  // Sleep-bound and independent of the others: run side by side.
  it.concurrent("renews its token before expiry (AppRole token_ttl 2s)", async () => {
    const short = await setupAppRole(bao, "short", ["gateway"], { token_ttl: "2s", token_max_ttl: "10m" });
    scanSecrets.push(short.secretId);
    const events: VaultClientEvent[] = [];
    const c = appRoleClient(short, { onEvent: (e) => events.push(e), renewFraction: 0.5 });
    await c.readKv("secret", "api/servicenow", 2);
    await sleep(2_600); // past the first TTL: only alive because it was renewed
    expect(events.some((e) => e.type === "token-renewed")).toBe(true);
    expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
    expect(events.filter((e) => e.type === "login")).toHaveLength(1);
    expect(events.filter((e) => e.type === "relogin")).toHaveLength(0);
  }, 10_000);

  // Sleep-bound and independent of the others: run side by side.
  it.concurrent("logs in again before expiry once the max TTL stops renewal (token_max_ttl 2s)", async () => {
    const capped = await setupAppRole(bao, "capped", ["gateway"], { token_ttl: "2s", token_max_ttl: "2s" });
    scanSecrets.push(capped.secretId);
    const events: VaultClientEvent[] = [];
    const c = appRoleClient(capped, { onEvent: (e) => events.push(e), renewFraction: 0.5 });
    await c.readKv("secret", "api/servicenow", 2);
    await sleep(2_600); // past the max TTL: a new login replaced the token before it died
    expect(events.filter((e) => e.type === "login").length).toBeGreaterThanOrEqual(2);
    expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
    expect(events.filter((e) => e.type === "relogin" && e.reason === "denied")).toHaveLength(0);
  }, 10_000);

  // Sleep-bound and independent of the others: run side by side.
  it.concurrent("token auth: a renewable token is renewed; a revoked static token is denied (no re-login possible)", async () => {
    const created = await bao.api("POST", "auth/token/create", { policies: ["gateway"], ttl: "2s", renewable: true });
    const token = created.body.auth.client_token as string;
    scanSecrets.push(token);
    const events: VaultClientEvent[] = [];
    const c = new VaultClient({
      address: bao.address,
      auth: { method: "token", token: new Secret(token) },
      renewFraction: 0.5,
      logger: jsonLogger("debug", cap.write),
      onEvent: (e) => events.push(e),
    });
    clients.push(c);
    await c.readKv("secret", "api/servicenow", 2);
    await sleep(2_300);
    expect(events.some((e) => e.type === "token-renewed")).toBe(true);
    expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
    await bao.api("POST", "auth/token/revoke", { token });
    const err = await c.readKv("secret", "api/servicenow", 2).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "denied" });
    cap.add(err, ...events);
  }, 10_000);

  // Sleep-bound and independent of the others: run side by side.
  it.concurrent("a dynamic secret with a lease is re-read before the lease ends (PKI with generate_lease)", async () => {
    await bao.api("POST", "sys/mounts/pki", { type: "pki", config: { max_lease_ttl: "1h" } });
    await bao.api("POST", "pki/root/generate/internal", { common_name: "test-root", key_type: "ec", ttl: "1h" });
    await bao.api("POST", "pki/roles/gw", {
      allow_any_name: true,
      generate_lease: true,
      key_type: "ec",
      ttl: "3s",
      not_before_duration: "1s",
    });
    const events: CacheEvent[] = [];
    const cache = new SecretCache({
      sources: { vault: vaultSource(appRoleClient()) },
      defaults: { ttlSeconds: 300, maxStaleSeconds: 300, refreshAhead: 0.5 },
      onEvent: (e) => events.push(e),
    });
    caches.push(cache);
    const ref = { source: "vault", engine: "leased", mount: "", path: "pki/issue/gw", write: { common_name: "backend.test" } } as const;
    const first = await cache.get(ref, undefined, { keepWarm: true });
    expect(first.lease?.id).toMatch(/^pki\/issue\/gw\//);
    expect(first.lease?.durationSeconds).toBeGreaterThan(0);
    expect(first.lease?.durationSeconds).toBeLessThanOrEqual(3);
    const serial1 = first.values.serial_number?.reveal();
    await sleep(2_200); // past refreshAhead, before the 3 s lease ends
    expect(events.some((e) => e.type === "lease-reread")).toBe(true);
    const second = await cache.get(ref);
    expect(second.stale).toBe(false);
    expect(second.values.serial_number?.reveal()).not.toBe(serial1);
    expect(second.lease?.id).not.toBe(first.lease?.id);
  }, 10_000);

  it("Vault sealed (503) or unreachable: cached credential within max-stale, then CREDENTIALS_UNAVAILABLE", async () => {
    // Times are measured from the last successful load (a background refresh may move it), so a
    // slow seal on a busy CI machine cannot shift the windows: fresh 0.5 s, then stale up to 2.5 s.
    const TTL = 0.5;
    const MAX_STALE = 2.5;
    let lastLoad = 0;
    const cache = new SecretCache({
      sources: { vault: vaultSource(appRoleClient()) },
      defaults: { ttlSeconds: TTL, maxStaleSeconds: MAX_STALE, refreshAhead: 0.99 },
      logger: jsonLogger("debug", cap.write),
      onEvent: (e) => {
        if (e.type === "loaded" || e.type === "refreshed") lastLoad = Date.now();
      },
    });
    caches.push(cache);
    const servers: Record<string, CredentialsServer> = {
      sn: {
        transport: "streamable-http",
        credentials: credentialsSchema.parse({
          from: { vault: { path: "api/servicenow" } },
          inject: { headers: { Authorization: "Bearer {token}" } },
        }),
      },
    };
    const f = createCredentialsFilter({ servers, cache, logger: jsonLogger("debug", cap.write) });
    const ok = exchange("sn", principal("alice"));
    expect(await viaChain(f, ok)).toBeUndefined();
    const until = async (t: number) => {
      const d = t - Date.now();
      if (d > 0) await sleep(d);
    };

    await bao.seal();
    try {
      // The raw client sees the documented 503.
      const raw = await appRoleClient()
        .readKv("secret", "api/servicenow", 2)
        .catch((e: unknown) => e);
      expect(raw).toMatchObject({ kind: "unavailable", status: 503 });
      cap.add(raw);
      await until(lastLoad + TTL * 1000 + 300); // expired, inside max-stale
      expect(Date.now()).toBeLessThan(lastLoad + (TTL + MAX_STALE) * 1000 - 200); // (sealing took too long otherwise)
      const stale = exchange("sn", principal("alice"));
      expect(await viaChain(f, stale)).toBeUndefined();
      expect(stale.upstreamHeaders).toEqual({ Authorization: `Bearer ${SN_V2}` });
      await until(lastLoad + (TTL + MAX_STALE) * 1000 + 300); // past max-stale
      const refused = exchange("sn", principal("alice"));
      const v = (await viaChain(f, refused)) as LocalReply;
      expect(v?.error.code).toBe("CREDENTIALS_UNAVAILABLE");
      expect(v.error.spec).toMatchObject({ rpc: -32089, http: 503 });
      expect(refused.upstreamHeaders).toEqual({});
      cap.add(v.error, v.error.toRpcError());
    } finally {
      await bao.unseal();
    }
    // Back: fresh again.
    const back = exchange("sn", principal("alice"));
    expect(await viaChain(f, back)).toBeUndefined();
    expect(back.upstreamHeaders).toEqual({ Authorization: `Bearer ${SN_V2}` });

    // Nothing listening at all (connection refused) is "unavailable" too, and fast.
    const down = appRoleClient(role, { address: "http://127.0.0.1:1" });
    const t0 = Date.now();
    const e = await down.readKv("secret", "api/servicenow", 2).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: "unavailable" });
    expect(Date.now() - t0).toBeLessThan(2_500);
    cap.add(e);
  }, 20_000);

  it("Kubernetes auth: logs in with the service-account JWT, re-reading the (rotated) file at each login", async () => {
    // A stand-in for the Kubernetes API server's TokenReview endpoint (this fakes Kubernetes, not
    // Vault: OpenBao itself validates the login and calls it, as it would call a real cluster).
    const reviewed: string[] = [];
    const k8s: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => {
        body += d.toString("utf8");
      });
      req.on("end", () => {
        const token = (JSON.parse(body) as { spec: { token: string } }).spec.token;
        reviewed.push(token);
        const ok = issued.has(token) && req.headers.authorization === `Bearer ${token}`;
        res.writeHead(201, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            status: ok
              ? { authenticated: true, user: { username: "system:serviceaccount:mcp:mcp-gateway", uid: "sa-uid-1" } }
              : { authenticated: false },
          }),
        );
      });
    });
    const port = await freePort();
    await new Promise<void>((r) => k8s.listen(port, "127.0.0.1", () => r()));
    const issued = new Set<string>();
    const { privateKey } = await generateKeyPair("ES256");
    const mint = async () => {
      const jwt = await new SignJWT({
        "kubernetes.io/serviceaccount/namespace": "mcp",
        "kubernetes.io/serviceaccount/service-account.name": "mcp-gateway",
        "kubernetes.io/serviceaccount/service-account.uid": "sa-uid-1",
        sub: "system:serviceaccount:mcp:mcp-gateway",
      })
        .setProtectedHeader({ alg: "ES256" })
        .setIssuer("kubernetes/serviceaccount")
        .setIssuedAt()
        .sign(privateKey);
      issued.add(jwt);
      scanSecrets.push(jwt);
      return jwt;
    };
    try {
      await bao.api("POST", "sys/auth/kubernetes", { type: "kubernetes" });
      // OpenBao wants a cluster CA even for an http:// host; any PEM certificate will do.
      await bao.api("POST", "sys/mounts/k8sca", { type: "pki" });
      const ca = await bao.api("POST", "k8sca/root/generate/internal", { common_name: "fake-k8s-ca", key_type: "ec", ttl: "1h" });
      await bao.api("POST", "auth/kubernetes/config", {
        kubernetes_host: `http://127.0.0.1:${port}`,
        kubernetes_ca_cert: ca.body.data.certificate,
        disable_local_ca_jwt: true,
      });
      await bao.api("POST", "auth/kubernetes/role/gw", {
        bound_service_account_names: ["mcp-gateway"],
        bound_service_account_namespaces: ["mcp"],
        token_policies: ["gateway"],
        token_ttl: "60s",
      });
      const jwtFile = join(tmpdir(), `sa-token-${process.pid}-${Date.now()}`);
      const first = await mint();
      writeFileSync(jwtFile, `${first}\n`);
      const events: VaultClientEvent[] = [];
      const c = await createVaultClient(
        {
          address: bao.address,
          auth: { method: "kubernetes", role: "gw", jwtFile, mount: "kubernetes" },
          timeoutMs: 2_000,
          renewFraction: 2 / 3,
          kvVersions: {},
        },
        { baseDir: "/", logger: jsonLogger("debug", cap.write), onVaultEvent: (e) => events.push(e) },
      );
      clients.push(c);
      expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
      expect(reviewed).toEqual([first]);
      // The kubelet rotates the projected token; the next login must use the new file content.
      const second = await mint();
      writeFileSync(jwtFile, second);
      await bao.api("PUT", "sys/leases/revoke-prefix/auth/kubernetes/login");
      expect((await c.readKv("secret", "api/servicenow", 2)).data.token).toBe(SN_V2);
      expect(reviewed).toEqual([first, second]);
      expect(events.filter((e) => e.type === "login")).toHaveLength(2);
      // An unknown service account token is refused by Vault: denied, with no token in the error.
      writeFileSync(jwtFile, "not-a-jwt");
      const bad = await createVaultClient(
        {
          address: bao.address,
          auth: { method: "kubernetes", role: "gw", jwtFile, mount: "kubernetes" },
          timeoutMs: 2_000,
          renewFraction: 2 / 3,
          kvVersions: {},
        },
        { baseDir: "/" },
      );
      clients.push(bad);
      const err = await bad.readKv("secret", "api/servicenow", 2).catch((e: unknown) => e);
      expect(isSecretStoreError(err) && err.kind !== "unavailable").toBe(true);
      cap.add(err);
    } finally {
      await new Promise<void>((r) => k8s.close(() => r()));
    }
  });

  it("TLS: trusts the configured CA file (vault.tls.caFile), refuses an unknown CA", async () => {
    const tls = await startBao(BIN!, { tls: true });
    try {
      scanSecrets.push(tls.rootToken);
      await tls.api("POST", "secret/data/api/tls", { data: { token: SN_V1 } });
      const c = await createVaultClient(
        {
          address: tls.address,
          auth: { method: "token", token: new Secret(tls.rootToken) },
          tls: { caFile: tls.caFile },
          timeoutMs: 2_000,
          renewFraction: 2 / 3,
          kvVersions: {},
        },
        { baseDir: "/" },
      );
      clients.push(c);
      expect((await c.readKv("secret", "api/tls", 2)).data.token).toBe(SN_V1);
      const noCa = new VaultClient({ address: tls.address, auth: { method: "token", token: new Secret(tls.rootToken) }, timeoutMs: 2_000 });
      clients.push(noCa);
      const err = await noCa.readKv("secret", "api/tls", 2).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "unavailable" });
      expect(String((err as Error).message)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
      cap.add(err);
    } finally {
      await tls.stop();
    }
  }, 20_000);

  // Runs once the lead has plugged the vault block into the main schema (see docs/credentials.md).
  it.skipIf(!("vault" in configSchema.shape))("parseConfigWithVault: a full config with ${vault:…} references validates", async () => {
    const env = { ROLE_ID: role.roleId, SECRET_ID: role.secretId };
    const tree = {
      sessions: { key: "k".repeat(32) },
      vault: { address: bao.address, auth: { method: "approle", roleId: "${env:ROLE_ID}", secretId: "${env:SECRET_ID}" } },
      servers: { sn: { url: "https://sn.example/mcp", headers: { Authorization: "Bearer ${vault:secret/api/servicenow#token}" } } },
    };
    const cfg = await parseConfigWithVault(tree, "/", { env });
    const sn = cfg.servers.sn as { headers?: Record<string, Secret> };
    expect(sn.headers?.Authorization?.reveal()).toBe(`Bearer ${SN_V2}`);
    cap.add(cfg);
  });

  it("${vault:…} references are pre-resolved before validation (async pass, then the sync resolver)", async () => {
    const tree = {
      vault: {
        address: bao.address,
        auth: { method: "approle", roleId: "${env:ROLE_ID}", secretId: "${env:SECRET_ID}" },
        kvVersions: { kv1: 1 },
      },
      servers: {
        sn: { url: "https://sn.example", headers: { Authorization: "Bearer ${vault:secret/api/servicenow#token}" } },
        old: { url: "https://old.example", headers: { "X-Key": "${vault:secret/api/servicenow?version=1#token}" } },
        legacy: { command: "legacy-mcp", env: { PW: "${vault:kv1/legacy#password}" } },
      },
    };
    const env = { ROLE_ID: role.roleId, SECRET_ID: role.secretId };
    const vault = await prepareVaultResolver(tree, { baseDir: "/", env, logger: jsonLogger("debug", cap.write) });
    expect(vault).toBeDefined();
    const resolved = resolveReferences(tree, { ...builtinResolvers("/", env), vault: vault! }) as {
      servers: { sn: { headers: { Authorization: Secret } }; old: { headers: { "X-Key": Secret } }; legacy: { env: { PW: Secret } } };
    };
    expect(resolved.servers.sn.headers.Authorization.reveal()).toBe(`Bearer ${SN_V2}`);
    expect(resolved.servers.old.headers["X-Key"].reveal()).toBe(SN_V1);
    expect(resolved.servers.legacy.env.PW.reveal()).toBe(LEGACY_PW);
    cap.add(resolved);

    const bad = { ...tree, servers: { sn: { url: "https://x", headers: { A: "${vault:secret/api/servicenow#nokey}" } } } };
    await expect(prepareVaultResolver(bad, { baseDir: "/", env })).rejects.toThrow(
      /^servers\.sn\.headers\.A: \$\{vault:secret\/api\/servicenow#nokey\}: key nokey/,
    );
    const denied = { ...tree, servers: { sn: { url: "https://x", headers: { A: "${vault:secret/admin/github#token}" } } } };
    const err = await prepareVaultResolver(denied, { baseDir: "/", env }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/servers\.sn\.headers\.A: .*denied/);
    cap.add(err);
    expect(await prepareVaultResolver({ servers: {} }, { baseDir: "/" })).toBeUndefined();
  });
});
