// Test helper: run a real OpenBao dev server (`bao server -dev`) on 127.0.0.1 with a free port, and
// talk to it as root to set up fixtures. The binary comes from $BAO_BIN, PATH, or .cache/tools/bin/bao
// (built by tools/openbao/install-bao.sh).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, fetch } from "undici";

export function findBao(): string | undefined {
  const candidates = [
    process.env.BAO_BIN,
    ...(process.env.PATH ?? "").split(delimiter).map((d) => d && join(d, "bao")),
    fileURLToPath(new URL("../../../.cache/tools/bin/bao", import.meta.url)),
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      execFileSync(c, ["version"], { stdio: "ignore", timeout: 10_000 });
      return c;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface BaoDev {
  readonly address: string;
  /** CA bundle of a -dev-tls server. */
  readonly caFile: string | undefined;
  readonly rootToken: string;
  readonly unsealKey: string;
  /** Everything the server printed. */
  readonly output: () => string;
  /** Root-token API call; throws on non-2xx unless `allow` lists the status. */
  api(method: string, path: string, body?: unknown, opts?: { token?: string; namespace?: string; allow?: number[] }): Promise<ApiResult>;
  seal(): Promise<void>;
  unseal(): Promise<void>;
  stop(): Promise<void>;
}

export interface ApiResult {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test fixture JSON
  readonly body: any;
}

export interface StartOptions {
  /** -dev-tls: HTTPS with a generated CA, returned as `caFile`. */
  readonly tls?: boolean;
}

export async function startBao(bin: string, opts: StartOptions = {}): Promise<BaoDev> {
  const port = await freePort();
  const rootToken = `root-${randomBytes(12).toString("hex")}`;
  // A private HOME and -dev-no-store-token: the dev server must not write a token helper file.
  const home = mkdtempSync(join(tmpdir(), "bao-dev-"));
  const args = [
    "server",
    "-dev",
    `-dev-listen-address=127.0.0.1:${port}`,
    `-dev-root-token-id=${rootToken}`,
    "-dev-no-store-token",
    "-log-level=warn",
  ];
  if (opts.tls) args.push("-dev-tls", `-dev-tls-cert-dir=${home}`);
  const address = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
  const caFile = opts.tls ? join(home, "vault-ca.pem") : undefined;
  // The fixture calls of a -dev-tls server trust its generated CA (loaded once it exists).
  let dispatcher: Agent | undefined;
  const child: ChildProcess = spawn(bin, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home },
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));

  const api: BaoDev["api"] = async (method, path, body, o = {}) => {
    const headers: Record<string, string> = { "X-Vault-Token": o.token ?? rootToken };
    if (o.namespace) headers["X-Vault-Namespace"] = o.namespace;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${address}/v1/${path}`, {
      method,
      headers,
      dispatcher,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (res.status >= 300 && !o.allow?.includes(res.status)) {
      throw new Error(`bao ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    }
    return { status: res.status, body: parsed };
  };

  const health = async () => {
    if (caFile && !dispatcher) dispatcher = new Agent({ connect: { ca: readFileSync(caFile, "utf8") } });
    return (await fetch(`${address}/v1/sys/health`, { dispatcher })).status;
  };

  // Bounded wait for the listener, an unsealed active core, and the banner with the unseal key.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bao exited early (${child.exitCode}): ${out.slice(-2000)}`);
    try {
      if ((await health()) === 200 && /Unseal Key: \S+/.test(out)) break;
    } catch {
      // not listening yet, or the CA file is not written yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`bao did not become ready: ${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const unsealKey = /Unseal Key: (\S+)/.exec(out)?.[1] ?? "";

  return {
    address,
    caFile,
    rootToken,
    unsealKey,
    output: () => out,
    api,
    async seal() {
      await api("PUT", "sys/seal");
    },
    async unseal() {
      await api("PUT", "sys/unseal", { key: unsealKey });
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        if ((await health()) === 200) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error("bao did not become active after unseal");
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(t);
      }
      await dispatcher?.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Enable AppRole (once) and create a role whose tokens carry `policies`; returns role_id and a fresh secret_id. */
export async function setupAppRole(
  bao: BaoDev,
  role: string,
  policies: string[],
  tokenOpts: { token_ttl?: string; token_max_ttl?: string } = {},
): Promise<{ roleId: string; secretId: string }> {
  const auths = await bao.api("GET", "sys/auth");
  if (!auths.body.data?.["approle/"] && !auths.body["approle/"]) await bao.api("POST", "sys/auth/approle", { type: "approle" });
  await bao.api("POST", `auth/approle/role/${role}`, { token_policies: policies, ...tokenOpts });
  const roleId = (await bao.api("GET", `auth/approle/role/${role}/role-id`)).body.data.role_id as string;
  const secretId = (await bao.api("POST", `auth/approle/role/${role}/secret-id`, {})).body.data.secret_id as string;
  return { roleId, secretId };
}
