// Starts the Temporal Java test server (time-skipping) for tests and local runs. It binds every
// interface, so it runs in a private network namespace (`unshare -n`, loopback only) and is reached
// through a Unix socket relayed to a 127.0.0.1 port of this process.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface TemporalTestServer {
  /** host:port for Connection.connect / NativeConnection.connect. */
  readonly address: string;
  close(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/** Where .ci/install-temporal.sh put the test server's jars. */
export function temporalTestServerLib(): string {
  const tools = process.env.TOOLS_DIR ?? join(repoRoot, ".cache", "tools");
  return join(tools, "temporal-test-server", "lib");
}

export async function startTemporalTestServer(o: { startTimeoutMs?: number } = {}): Promise<TemporalTestServer> {
  const lib = temporalTestServerLib();
  if (!existsSync(lib)) throw new Error(`Temporal test server not installed in ${lib}: run bash .ci/install-temporal.sh`);
  const dir = mkdtempSync(join(tmpdir(), "temporal-netns-"));
  const sock = join(dir, "temporal.sock");
  const inner = fileURLToPath(new URL("./netns-temporal-inner.ts", import.meta.url));
  // Inside its own namespace any fixed port is free; 7233 is Temporal's usual one.
  const script = `ip link set lo up && exec "$0" "$@"`;
  const child = spawn("unshare", ["-n", "sh", "-c", script, process.execPath, inner, sock, "7233", lib], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const timeout = o.startTimeoutMs ?? 90_000;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => fail(new Error(`Temporal test server did not start within ${timeout} ms: ${stderr}`)), timeout);
    const fail = (e: Error) => {
      clearTimeout(t);
      child.kill("SIGKILL");
      reject(e);
    };
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", (code) => fail(new Error(`Temporal test server exited (${code}): ${stderr}`)));
  });
  const relay: Server = createServer((inbound) => {
    const out = connect(sock);
    inbound.pipe(out).pipe(inbound);
    const close = () => {
      inbound.destroy();
      out.destroy();
    };
    inbound.once("error", close).once("close", close);
    out.once("error", close).once("close", close);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", () => resolve()));
  const port = (relay.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      relay.close();
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
