// Test helper: a real OpenSSH sshd on 127.0.0.1 (free port) from a temp dir: its own host key, config
// and authorized_keys, where each device's key is bound by command="…" to fake/device-cli.sh with that
// device's hostname, so the login answers like the device's CLI. Runs as the current user (root in CI).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SSHD_CANDIDATES = [process.env.SSHD_BIN, "/usr/sbin/sshd", "/usr/local/sbin/sshd"];

export function findSshd(): string {
  for (const c of SSHD_CANDIDATES) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error("sshd not found: install openssh-server (.ci/install-sshd.sh)");
}

async function freePort(): Promise<number> {
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

export interface TestSshd {
  readonly port: number;
  readonly user: string;
  /** Pinned host key as the inventory takes it: SHA256:… */
  readonly hostKey: string;
  /** OpenSSH private key per device hostname. */
  readonly keys: Record<string, string>;
  /** Everything sshd logged (-e). */
  log(): string;
  stop(): Promise<void>;
}

function keygen(dir: string, name: string): { priv: string; pub: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file], { stdio: "ignore" });
  return { priv: readFileSync(file, "utf8"), pub: readFileSync(`${file}.pub`, "utf8").trim() };
}

export async function startSshd(devices: string[]): Promise<TestSshd> {
  const sshd = findSshd();
  const dir = mkdtempSync(join(tmpdir(), "sshd-devices-"));
  chmodSync(dir, 0o755);
  const user = userInfo().username;
  // Privilege separation directory sshd needs when started as root (created by the package's service normally).
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const host = keygen(dir, "host_ed25519");
  const hostKey = /(SHA256:\S+)/.exec(
    execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", join(dir, "host_ed25519.pub")], { encoding: "utf8" }),
  )![1]!;
  void host;
  const shell = fileURLToPath(new URL("../fake/device-cli.sh", import.meta.url));
  const keys: Record<string, string> = {};
  const lines: string[] = [];
  for (const d of devices) {
    const k = keygen(dir, `client_${d}`);
    keys[d] = k.priv;
    lines.push(`command="/bin/sh ${shell} ${d}",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding ${k.pub}`);
  }
  writeFileSync(join(dir, "authorized_keys"), `${lines.join("\n")}\n`, { mode: 0o600 });
  const cfg = join(dir, "sshd_config");
  writeFileSync(
    cfg,
    [
      `HostKey ${join(dir, "host_ed25519")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AllowUsers ${user}`,
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "PrintMotd no",
      "LogLevel INFO",
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(sshd, ["-D", "-e", "-f", cfg, "-p", String(port), "-o", "ListenAddress=127.0.0.1"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // Ready when it answers with an SSH banner (bounded wait).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log}`);
    const banner = await new Promise<string>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("data", (d) => {
        resolve(d.toString());
        s.destroy();
      });
      s.once("error", () => resolve(""));
    });
    if (banner.startsWith("SSH-2.0-")) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`sshd did not answer: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    user,
    hostKey,
    keys,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
