// The credentials filter on synthetic Exchanges with the embedded sources (env, file): it fills
// exactly the configured headers / env, strips first, resolves per-user paths per caller, refuses
// crafted subjects, and fails start-up for a required server whose secret is missing.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalReply } from "../../src/chain/types.ts";
import { ConfigError } from "../../src/config/load.ts";
import { builtinResolvers, resolveReferences } from "../../src/config/references.ts";
import { configSchema } from "../../src/config/schema.ts";
import { type CredentialsConfig, credentialsSchema, secretCacheSchema } from "../../src/config/schema-credentials.ts";
import {
  CREDENTIALS_FINGERPRINT,
  CREDENTIALS_STRIP,
  type CredentialsServer,
  CredentialsStartupError,
  createCredentialsFilter,
  credentialsFromConfig,
} from "../../src/filters/credentials/index.ts";
import { jsonLogger } from "../../src/logger.ts";
import { createSecretCache } from "../../src/secrets/from-config.ts";
import { parseConfigWithVault } from "../../src/secrets/load-with-vault.ts";
import { CALL, CALLER_COOKIE, CALLER_TOKEN, exchange, principal, viaChain } from "./exchange.ts";
import { OutputCapture } from "./secret-scan.ts";

const SN_TOKEN = "sn-token-9c4e1a7b3d5f";
const GH_ALICE = "gh-alice-0a1b2c3d4e5f";
const GH_BOB = "gh-bob-f5e4d3c2b1a0";
const DB_USER = "svc_reader";
const DB_PASS = "db-pass-77e1c0ffee42";
const STDIO_KEY = "stdio-key-1122334455aa";
const SECRETS = [SN_TOKEN, GH_ALICE, GH_BOB, DB_PASS, STDIO_KEY];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cred-filter-"));
  mkdirSync(join(dir, "users"));
  writeFileSync(join(dir, "users", "alice.json"), JSON.stringify({ token: GH_ALICE }));
  writeFileSync(join(dir, "users", "bob.json"), JSON.stringify({ token: GH_BOB }));
  writeFileSync(join(dir, "admin.json"), JSON.stringify({ token: "admin-token-should-never-be-read" }));
  // Kubernetes secret volume layout: one file per key, plus ..data links that are skipped.
  mkdirSync(join(dir, "db"));
  writeFileSync(join(dir, "db", "username"), `${DB_USER}\n`);
  writeFileSync(join(dir, "db", "password"), `${DB_PASS}\n`);
  writeFileSync(join(dir, "db", "..data"), "ignored");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { SN_TOKEN, STDIO_KEY };

function creds(raw: unknown): CredentialsConfig {
  return credentialsSchema.parse(raw);
}

async function setup(servers: Record<string, CredentialsServer>, cap: OutputCapture) {
  const cache = await createSecretCache(
    { secretCache: secretCacheSchema.parse({}) },
    { baseDir: dir, env, logger: jsonLogger("debug", cap.write) },
  );
  return createCredentialsFilter({ servers, cache, logger: jsonLogger("debug", cap.write) });
}

const SERVERS: Record<string, CredentialsServer> = {
  servicenow: {
    transport: "streamable-http",
    credentials: creds({
      from: { env: { token: "SN_TOKEN" } },
      inject: { headers: { Authorization: "Bearer {token}" } },
      required: true,
      stripHeaders: ["X-Api-Key"],
    }),
  },
  github: {
    transport: "streamable-http",
    credentials: creds({ from: { file: "users/{sub}.json" }, inject: { headers: { "X-GitHub-Token": "{token}" } } }),
  },
  db: {
    transport: "sse",
    credentials: creds({ from: { file: "db" }, inject: { basic: { username: "{username}", password: "{password}" } } }),
  },
  tool: {
    transport: "stdio",
    credentials: creds({ from: { env: { key: "STDIO_KEY" } }, inject: { env: { TOOL_API_KEY: "{key}", TOOL_MODE: "gateway" } } }),
  },
};

describe("credentials filter (env and file sources)", () => {
  it("injects exactly the configured header and strips the caller's credentials first", async () => {
    const cap = new OutputCapture();
    const f = await setup(SERVERS, cap);
    await f.start();
    // What the relay's allow-list would never forward, plus a configured header, pre-filled to prove stripping.
    const ex = exchange("servicenow", principal("alice"), {
      "mcp-protocol-version": "2025-11-25",
      authorization: `Bearer ${CALLER_TOKEN}`,
      Cookie: CALLER_COOKIE,
      "X-API-KEY": "caller-api-key-55aa",
    });
    expect(await viaChain(f, ex)).toBeUndefined();
    expect(ex.upstreamHeaders).toEqual({ "mcp-protocol-version": "2025-11-25", Authorization: `Bearer ${SN_TOKEN}` });
    expect(ex.upstreamEnv).toEqual({});
    // The strip set is published for the relay's own forwarding (lower case).
    expect([...(ex.vars.get(CREDENTIALS_STRIP) as Set<string>)].sort()).toEqual([
      "authorization",
      "cookie",
      "proxy-authorization",
      "x-api-key",
    ]);
    cap.add(ex.headers);
    f.close();
    cap.assertClean(SECRETS);
  });

  it("Basic from username/password (Kubernetes-style secret directory), for an SSE backend", async () => {
    const cap = new OutputCapture();
    const f = await setup(SERVERS, cap);
    const ex = exchange("db", principal("alice"));
    expect(await viaChain(f, ex)).toBeUndefined();
    expect(ex.upstreamHeaders).toEqual({ Authorization: `Basic ${Buffer.from(`${DB_USER}:${DB_PASS}`).toString("base64")}` });
    f.close();
  });

  it("stdio backends get exactly the configured environment", async () => {
    const cap = new OutputCapture();
    const f = await setup(SERVERS, cap);
    const ex = exchange("tool", principal("alice"));
    expect(await viaChain(f, ex)).toBeUndefined();
    expect(ex.upstreamEnv).toEqual({ TOOL_API_KEY: STDIO_KEY, TOOL_MODE: "gateway" });
    expect(ex.upstreamHeaders).toEqual({});
    f.close();
  });

  it("per-user paths resolve per caller; crafted subjects are refused and reach nothing", async () => {
    const cap = new OutputCapture();
    const f = await setup(SERVERS, cap);
    const a = exchange("github", principal("alice"));
    const b = exchange("github", principal("bob"));
    expect(await viaChain(f, a)).toBeUndefined();
    expect(await viaChain(f, b)).toBeUndefined();
    expect(a.upstreamHeaders).toEqual({ "X-GitHub-Token": GH_ALICE });
    expect(b.upstreamHeaders).toEqual({ "X-GitHub-Token": GH_BOB });
    const replies: LocalReply[] = [];
    for (const sub of ["../admin", "a/b", "%2e%2e", "..", "users/../admin"]) {
      const ex = exchange("github", principal(sub));
      const v = (await viaChain(f, ex)) as LocalReply;
      expect(v.error.code).toBe("CREDENTIALS_SUBJECT_REFUSED");
      expect(v.error.spec.http).toBe(403);
      expect(ex.upstreamHeaders).toEqual({});
      replies.push(v);
    }
    // No principal at all (should not happen after authn, but must not fall through).
    expect(((await viaChain(f, exchange("github", undefined))) as LocalReply).error.code).toBe("CREDENTIALS_SUBJECT_REFUSED");
    // A user without a secret: a documented error, no header.
    const c = exchange("github", principal("carol"));
    const v = (await viaChain(f, c)) as LocalReply;
    expect(v.error.code).toBe("CREDENTIALS_MISSING");
    expect(c.upstreamHeaders).toEqual({});
    cap.add(...replies.map((r) => r.error), ...replies.map((r) => r.error.toRpcError()), v.error.toRpcError());
    f.close();
    cap.assertClean([...SECRETS, "admin-token-should-never-be-read"]);
  });

  it("POST: fetched per exchange only when a message reaches the stage; GET/DELETE at request level", async () => {
    let reads = 0;
    const counting = {
      ...process.env,
      get SN_TOKEN() {
        reads++;
        return SN_TOKEN;
      },
    } as NodeJS.ProcessEnv;
    const cache = await createSecretCache({}, { baseDir: dir, env: counting });
    const f = createCredentialsFilter({ servers: { servicenow: SERVERS.servicenow! }, cache });
    // onRequest of a POST does nothing: the messages may all be refused by earlier stages.
    const post = exchange("servicenow", principal("alice"));
    expect(f.onRequest!(post)).toBeUndefined();
    expect(reads).toBe(0);
    expect(post.upstreamHeaders).toEqual({});
    // The first message that reaches the stage fetches; the exchange's other messages share it.
    expect(await f.onMessage!(post, CALL)).toBeUndefined();
    expect(await f.onMessage!(post, { ...CALL, id: 2 })).toBeUndefined();
    expect(reads).toBe(1);
    expect(post.upstreamHeaders).toEqual({ Authorization: `Bearer ${SN_TOKEN}` });
    // GET (stream) and DELETE carry no message: credentials at request level.
    for (const method of ["GET", "DELETE"] as const) {
      const ex = { ...exchange("servicenow", principal("alice")), httpMethod: method, vars: new Map(), upstreamHeaders: {} };
      expect(await f.onRequest!(ex)).toBeUndefined();
      expect(ex.upstreamHeaders).toEqual({ Authorization: `Bearer ${SN_TOKEN}` });
    }
    // A refusal is shared by every message of the exchange.
    const g = createCredentialsFilter({ servers: { github: SERVERS.github! }, cache });
    const bad = exchange("github", principal("../admin"));
    const v1 = (await g.onMessage!(bad, CALL)) as LocalReply;
    const v2 = (await g.onMessage!(bad, { ...CALL, id: 2 })) as LocalReply;
    expect(v1.error.code).toBe("CREDENTIALS_SUBJECT_REFUSED");
    expect(v2).toBe(v1);
    f.close();
  });

  it("servers without a credentials block are untouched", async () => {
    const f = await setup(SERVERS, new OutputCapture());
    const ex = exchange("other", principal("alice"), { "mcp-protocol-version": "2025-11-25" });
    expect(viaChain(f, ex)).toBeUndefined();
    expect(ex.upstreamHeaders).toEqual({ "mcp-protocol-version": "2025-11-25" });
    f.close();
  });

  it("a required server whose secret is missing is a clear start-up error", async () => {
    const cap = new OutputCapture();
    const servers: Record<string, CredentialsServer> = {
      servicenow: {
        transport: "streamable-http",
        credentials: creds({
          from: { env: { token: "SN_TOKEN_UNSET" } },
          inject: { headers: { Authorization: "Bearer {token}" } },
          required: true,
        }),
      },
      catalyst: {
        transport: "streamable-http",
        credentials: creds({ from: { file: "missing.json" }, inject: { headers: { "X-Auth-Token": "{token}" } }, required: true }),
      },
      keyless: {
        transport: "streamable-http",
        credentials: creds({ from: { env: { token: "SN_TOKEN" } }, inject: { headers: { "X-Key": "{api_key}" } }, required: true }),
      },
      optional: {
        transport: "streamable-http",
        credentials: creds({ from: { env: { token: "ALSO_UNSET" } }, inject: { headers: { "X-Key": "{token}" } } }),
      },
    };
    const f = await setup(servers, cap);
    const err = await f.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CredentialsStartupError);
    const issues = (err as CredentialsStartupError).issues;
    expect(issues).toHaveLength(3);
    expect(issues.join("\n")).toMatch(
      /servers\.servicenow\.credentials: env SN_TOKEN_UNSET: not_found: environment variable SN_TOKEN_UNSET is not set/,
    );
    expect(issues.join("\n")).toMatch(/servers\.catalyst\.credentials: file missing\.json: not_found/);
    expect(issues.join("\n")).toMatch(/servers\.keyless\.credentials: env SN_TOKEN has no key api_key/);
    cap.add(err);
    f.close();
    cap.assertClean(SECRETS);
  });

  it("refuses inject targets that do not fit the transport (validated when built)", async () => {
    const cache = await createSecretCache({}, { baseDir: dir, env });
    expect(() =>
      createCredentialsFilter({
        servers: {
          t: { transport: "stdio", credentials: creds({ from: { env: { k: "STDIO_KEY" } }, inject: { headers: { "X-K": "{k}" } } }) },
        },
        cache,
      }),
    ).toThrow(/stdio backend takes env/);
    expect(() =>
      createCredentialsFilter({
        servers: {
          t: { transport: "streamable-http", credentials: creds({ from: { env: { k: "STDIO_KEY" } }, inject: { env: { K: "{k}" } } }) },
        },
        cache,
      }),
    ).toThrow(/HTTP backend takes headers/);
    cache.close();
  });

  it("per-user credentials on connection-scoped backends (stdio, legacy SSE) are refused when built", async () => {
    const cache = await createSecretCache({}, { baseDir: dir, env });
    for (const transport of ["stdio", "sse"] as const) {
      const inject = transport === "stdio" ? { env: { T: "{token}" } } : { headers: { "X-T": "{token}" } };
      expect(() =>
        createCredentialsFilter({
          servers: { t: { transport, credentials: creds({ from: { file: "users/{sub}.json" }, inject }) } },
          cache,
        }),
      ).toThrow(/per-user credentials need a Streamable HTTP backend/);
    }
    cache.close();
  });

  it("publishes a fingerprint of the injected values (per caller, stable, secret-free)", async () => {
    const cap = new OutputCapture();
    const f = await setup(SERVERS, cap);
    const fp = async (server: string, sub: string) => {
      const ex = exchange(server, principal(sub));
      expect(await viaChain(f, ex)).toBeUndefined();
      return ex.vars.get(CREDENTIALS_FINGERPRINT) as string;
    };
    const a1 = await fp("github", "alice");
    const a2 = await fp("github", "alice");
    const b = await fp("github", "bob");
    expect(a1).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b);
    cap.add(a1, b);
    f.close();
    cap.assertClean(SECRETS);
  });

  it("a secret value with CR/LF is refused instead of splitting a header", async () => {
    const cache = await createSecretCache({}, { baseDir: dir, env: { EVIL: "abc\r\nX-Injected: 1" } });
    const f = createCredentialsFilter({
      servers: {
        s: { transport: "streamable-http", credentials: creds({ from: { env: { t: "EVIL" } }, inject: { headers: { "X-T": "{t}" } } }) },
      },
      cache,
    });
    const ex = exchange("s", principal("alice"));
    expect(((await viaChain(f, ex)) as LocalReply).error.code).toBe("CREDENTIALS_MISSING");
    expect(ex.upstreamHeaders).toEqual({});
    f.close();
  });
});

describe("credentials config schema", () => {
  it.each([
    [{ from: { vault: { path: "x" } }, inject: {} }, /inject at least one/],
    [
      { from: { vault: { path: "users/{sub}" } }, inject: { headers: { A: "{t}" } }, required: true },
      /required cannot be used with a per-user path/,
    ],
    [
      { from: { vault: { path: "x", engine: "kv-v1", version: 2 } }, inject: { headers: { A: "{t}" } } },
      /version pinning needs engine kv-v2/,
    ],
    [{ from: { vault: { path: "../x" } }, inject: { headers: { A: "{t}" } } }, /\. or \.\./],
    [{ from: { vault: { path: "users/{password}" } }, inject: { headers: { A: "{t}" } } }, /unknown placeholder/],
    [{ from: { vault: { path: "x" }, env: { a: "B" } }, inject: { headers: { A: "{t}" } } }, /exactly one of/],
    [{ from: { vault: { path: "x" } }, inject: { headers: { Host: "{t}" } } }, /cannot be injected/],
    [
      { from: { vault: { path: "x" } }, inject: { headers: { Authorization: "{t}" }, basic: { username: "{u}", password: "{p}" } } },
      /either basic/,
    ],
    [{ from: { vault: { path: "x" } }, inject: { env: { "1BAD": "{t}" } } }, /environment variable name/],
  ])("rejects %j", (raw, msg) => {
    const r = credentialsSchema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(msg);
  });

  it("applies defaults", () => {
    const c = creds({ from: { vault: { path: "api/servicenow" } }, inject: { headers: { Authorization: "Bearer {token}" } } });
    expect(c.from).toEqual({ vault: { engine: "kv-v2", mount: "secret", path: "api/servicenow" } });
    expect(c.required).toBe(false);
    expect(c.stripHeaders).toEqual([]);
    expect(c.inject.env).toEqual({});
  });
});

describe("parseConfigWithVault (async pre-resolution pass)", () => {
  const base = { sessions: { key: "${env:KEY}" }, servers: { a: { url: "https://a.example/mcp" } } };
  it("without vault references it is parseConfig", async () => {
    const cfg = await parseConfigWithVault(base, dir, { env: { KEY: "k".repeat(32) } });
    expect(Object.keys(cfg.servers)).toEqual(["a"]);
  });
  it("a vault reference without a vault block is a config error naming the field", async () => {
    const tree = {
      ...base,
      servers: { a: { url: "https://a.example/mcp", headers: { Authorization: "Bearer ${vault:secret/a#token}" } } },
    };
    const e = await parseConfigWithVault(tree, dir, { env: { KEY: "k".repeat(32) } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues[0]).toMatch(/^servers\.a\.headers\.Authorization: .*need a top-level vault block/);
  });
  it.each([
    ["${vault:secret/a}", /needs #key/],
    ["${vault:secret#k}", /<mount>\/<path>#<key>/],
    ["${vault:secret/../x#k}", /\. or \.\./],
    ["${vault:secret/a?v=2#k}", /version=<n>/],
  ])("malformed reference %s", async (ref, msg) => {
    const tree = {
      ...base,
      vault: { address: "http://127.0.0.1:1", auth: { method: "token", token: "t" } },
      servers: { a: { url: "https://a.example/mcp", headers: { X: ref } } },
    };
    const e = await parseConfigWithVault(tree, dir, { env: { KEY: "k".repeat(32) } }).catch((x: unknown) => x);
    expect((e as ConfigError).issues[0]).toMatch(msg);
  });
  it("the vault block itself cannot use vault references", async () => {
    const tree = { ...base, vault: { address: "http://127.0.0.1:1", auth: { method: "token", token: "${vault:secret/t#t}" } } };
    const e = await parseConfigWithVault(tree, dir, { env: { KEY: "k".repeat(32) } }).catch((x: unknown) => x);
    expect((e as ConfigError).issues[0]).toMatch(/^vault\.auth\.token: the vault block cannot use/);
  });
});

describe("the main schema carries the credentials blocks; credentialsFromConfig builds the filter", () => {
  const wired = configSchema;

  it("validates a YAML-shaped tree and builds the filter", async () => {
    const tree = {
      sessions: { key: "k".repeat(32) },
      secretCache: { ttlSeconds: 60 },
      servers: {
        servicenow: {
          url: "https://sn.example/mcp",
          credentials: { from: { env: { token: "SN_TOKEN" } }, inject: { headers: { Authorization: "Bearer {token}" } }, required: true },
        },
        tool: { command: "tool-mcp", credentials: { from: { env: { key: "STDIO_KEY" } }, inject: { env: { TOOL_KEY: "{key}" } } } },
        plain: { url: "https://plain.example/mcp" },
      },
    };
    const cfg = wired.parse(resolveReferences(tree, builtinResolvers(dir, env)));
    const f = await credentialsFromConfig(cfg, { baseDir: dir, env });
    expect(f).toBeDefined();
    await f!.start();
    const ex = exchange("servicenow", principal("alice"));
    expect(await viaChain(f!, ex)).toBeUndefined();
    expect(ex.upstreamHeaders).toEqual({ Authorization: `Bearer ${SN_TOKEN}` });
    const t = exchange("tool", principal("alice"));
    expect(await viaChain(f!, t)).toBeUndefined();
    expect(t.upstreamEnv).toEqual({ TOOL_KEY: STDIO_KEY });
    f!.close();
    expect(await credentialsFromConfig({ servers: { plain: {} } }, { baseDir: dir })).toBeUndefined();
  });

  it("rejects a credentials block with a field path", () => {
    const r = wired.safeParse({
      sessions: { key: "k".repeat(32) },
      servers: {
        sn: {
          url: "https://sn.example/mcp",
          credentials: { from: { vault: { path: "users/{sub}" } }, inject: { headers: { A: "{t}" } }, required: true },
        },
      },
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/required cannot be used with a per-user path/);
  });
});
