// Opt-in suite (npm run test:keycloak:platform): the platform realm in a real Keycloak 26. A browser
// login (authorization code + PKCE, the forms posted as a browser would) asks members of the groups
// that need MFA for their OTP and issues tokens with amr ["pwd","mfa"]; other groups log in with a
// password only; a member without an authenticator must enrol one first. Those tokens then go through
// the platform's gateway: the network engineer runs a device command with no step-up round trip, which
// is the path that works with today's MCP clients (they re-authorize without acr_values).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Platform, startPlatform } from "../run.ts";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const REALM = JSON.parse(readFileSync(new URL("./realm-platform.json", import.meta.url), "utf8")) as {
  users: Array<{ username: string; credentials: Array<{ type: string; value?: string; secretData?: string }> }>;
  clients: Array<{ protocolMappers: Array<{ name: string; config: Record<string, string> }> }>;
};
const REDIRECT = "http://127.0.0.1:9/callback";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** RFC 6238 TOTP as Keycloak computes it: HMAC-SHA1 keyed with the UTF-8 bytes of the stored secret. */
function totp(secret: string, at = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac("sha1", Buffer.from(secret, "utf8")).update(counter).digest();
  const o = h[h.length - 1]! & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const decode = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
const formAction = (html: string) => /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, "&");

/** A browser login: follow the forms with a cookie jar. Returns the page shown after the password, and the token if one is issued. */
async function browserLogin(
  base: string,
  user: string,
  o: { otp?: () => string } = {},
): Promise<{ afterPassword: string; token?: string; last: string }> {
  const jar = new Map<string, string>();
  const send = async (url: string, init: RequestInit = {}) => {
    const r = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(";");
      const i = kv!.indexOf("=");
      jar.set(kv!.slice(0, i), kv!.slice(i + 1));
    }
    return r;
  };
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const auth = new URL(`${base}/realms/platform/protocol/openid-connect/auth`);
  for (const [k, v] of Object.entries({
    client_id: "mcp-clients",
    response_type: "code",
    redirect_uri: REDIRECT,
    scope: "openid",
    state: "s",
    code_challenge: challenge,
    code_challenge_method: "S256",
  }))
    auth.searchParams.set(k, v);
  const login = await (await send(auth.href)).text();
  const form = (fields: Record<string, string>) => ({
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
  // Keycloak redirects within itself (e.g. to a required action) before showing a page or the client's redirect.
  const follow = async (res: Response) => {
    for (let i = 0; i < 5 && res.status === 302; i++) {
      const to = new URL(res.headers.get("location")!, base);
      if (to.href.startsWith(REDIRECT)) break;
      res = await send(to.href);
    }
    return res;
  };
  let r = await follow(await send(formAction(login)!, form({ username: user, password: `${user}-password`, credentialId: "" })));
  let page = r.status === 200 ? await r.text() : "";
  const afterPassword = page;
  // The code is computed when the OTP page is there: a slow login must not submit a code of a past period.
  if (r.status === 200 && o.otp !== undefined) {
    r = await follow(await send(formAction(afterPassword)!, form({ otp: o.otp(), login: "Sign In" })));
    page = r.status === 200 ? await r.text() : "";
  }
  const location = r.headers.get("location");
  const code = location ? new URL(location).searchParams.get("code") : null;
  // What Keycloak showed last (its error message, when there is one), for the assertion messages.
  const last = code ? "" : `${r.status} ${/kc-feedback-text[^>]*>([^<]*)/.exec(page)?.[1] ?? ""}`;
  if (!code) return { afterPassword, last };
  const t = await fetch(`${base}/realms/platform/protocol/openid-connect/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      client_id: "mcp-clients",
      code_verifier: verifier,
    }),
  });
  return { afterPassword, last, token: ((await t.json()) as { access_token: string }).access_token };
}

const otpSecret = (user: string) => {
  const c = REALM.users.find((u) => u.username === user)!.credentials.find((x) => x.type === "otp")!;
  return (JSON.parse(c.secretData!) as { value: string }).value;
};

describe("platform realm in Keycloak", () => {
  let kc: ChildProcess;
  let home: string;
  let base: string;
  let gatewayPort: number;
  let platform: Platform | undefined;
  let log = "";

  beforeAll(async () => {
    const source = process.env.KEYCLOAK_HOME ?? join(repo, ".cache/tools/keycloak/keycloak-26.7.3");
    if (!existsSync(join(source, "bin/kc.sh")))
      throw new Error(`Keycloak not found at ${source}: set KEYCLOAK_HOME (Keycloak 26, Quarkus distribution)`);
    // A private copy: its data directory, build and database are its own (another Keycloak may be running from the same install).
    home = mkdtempSync(join(tmpdir(), "kc-platform-"));
    execFileSync("cp", ["-a", `${source}/.`, home]);
    rmSync(join(home, "data"), { recursive: true, force: true });
    mkdirSync(join(home, "data/import"), { recursive: true });
    // The gateway's base URL is the audience the realm's mapper adds: pick the port now.
    gatewayPort = await freePort();
    const realm = JSON.parse(readFileSync(new URL("./realm-platform.json", import.meta.url), "utf8"));
    realm.clients[0].protocolMappers.find((m: { name: string }) => m.name === "gateway audience").config["included.custom.audience"] =
      `http://127.0.0.1:${gatewayPort}`;
    writeFileSync(join(home, "data/import/realm-platform.json"), JSON.stringify(realm));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    kc = spawn(join(home, "bin/kc.sh"), ["start-dev", "--http-host=127.0.0.1", `--http-port=${port}`, "--import-realm"], {
      env: { ...process.env, KC_BOOTSTRAP_ADMIN_USERNAME: "admin", KC_BOOTSTRAP_ADMIN_PASSWORD: randomBytes(12).toString("hex") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    kc.stdout!.on("data", (d: Buffer) => {
      log += d.toString();
    });
    kc.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
    });
    // A cold start re-augments the copied distribution: minutes on a busy 2-core machine.
    const deadline = Date.now() + 720_000;
    for (;;) {
      if (kc.exitCode !== null) throw new Error(`Keycloak exited: ${log.slice(-3000)}`);
      const ok = await fetch(`${base}/realms/platform/.well-known/openid-configuration`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`Keycloak did not start in 12 min: ${log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }, 780_000);

  afterAll(async () => {
    await platform?.close();
    if (kc && kc.exitCode === null) {
      const exited = new Promise((r) => kc.once("exit", r));
      kc.kill("SIGTERM");
      const t = setTimeout(() => kc.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(t);
    }
    if (home) rmSync(home, { recursive: true, force: true });
  }, 60_000);

  it("a network engineer is asked for the OTP; the token carries amr pwd+mfa and the group", async () => {
    const r = await browserLogin(base, "alice", { otp: () => totp(otpSecret("alice")) });
    expect(r.afterPassword).toMatch(/name="otp"/);
    expect(r.token, r.last).toBeDefined();
    const claims = decode(r.token!);
    expect(claims.amr).toEqual(["pwd", "mfa"]);
    expect(claims.groups).toEqual(["network-engineers"]);
  });

  it("a wrong OTP gives no token", async () => {
    const good = totp(otpSecret("alice"));
    const r = await browserLogin(base, "alice", { otp: () => (good === "000000" ? "111111" : "000000") });
    expect(r.token).toBeUndefined();
  });

  it("a group without mfa-required logs in with a password only (amr pwd)", async () => {
    const r = await browserLogin(base, "vic");
    expect(r.afterPassword).toBe("");
    expect(decode(r.token!).amr).toEqual(["pwd"]);
  });

  it("a member of an MFA group without an authenticator must enrol one before any token", async () => {
    const r = await browserLogin(base, "nora");
    expect(r.token).toBeUndefined();
    expect(r.afterPassword).toMatch(/totp|authenticator/i);
  });

  it("through the gateway: an MFA-at-login token runs a device command with no step-up; the service desk is refused", async () => {
    platform = await startPlatform({
      port: gatewayPort,
      quiet: true,
      patch: (tree) => {
        tree.auth = {
          allowInsecureLoopback: true,
          acceptBaseUrlAudience: true,
          issuers: [{ issuer: `${base}/realms/platform`, claims: { groups: ["groups"] } }],
        };
      },
    });
    // Another network engineer: an OTP code is accepted once, and alice's was used above.
    const nate = (await browserLogin(base, "nate", { otp: () => totp(otpSecret("nate")) })).token;
    expect(nate).toBeDefined();
    const c = new Client({ name: "kc", version: "1" });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${platform.url}/mcp/devices`), {
        requestInit: { headers: { authorization: `Bearer ${nate}` } },
      }),
    );
    const r = (await c.callTool({ name: "run_command", arguments: { devices: ["edge-1"], command: "show version" } })) as {
      structuredContent?: { results: Array<{ output: string }> };
    };
    expect(r.structuredContent!.results[0]!.output).toContain("edge-1 uptime is");
    await c.close();
    const sam = (await browserLogin(base, "sam", { otp: () => totp(otpSecret("sam")) })).token;
    expect(decode(sam!).amr).toEqual(["pwd", "mfa"]);
    const s = new Client({ name: "kc-sd", version: "1" });
    await s.connect(
      new StreamableHTTPClientTransport(new URL(`${platform.url}/mcp/devices`), {
        requestInit: { headers: { authorization: `Bearer ${sam}` } },
      }),
    );
    await expect(s.callTool({ name: "run_command", arguments: { devices: ["edge-1"], command: "show version" } })).rejects.toThrow();
    await s.close();
  }, 120_000);
});
