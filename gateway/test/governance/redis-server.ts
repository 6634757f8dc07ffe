// A real redis-server for tests, on a private unix socket in a temp directory (no TCP port at all).

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";

export interface TestRedis {
  socketPath: string;
  close(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), "redis-"));
  const socketPath = join(dir, "redis.sock");
  const proc: ChildProcess = spawn(
    "redis-server",
    ["--port", "0", "--unixsocket", socketPath, "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  proc.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${stderr}`);
    if (existsSync(socketPath)) {
      const c = createClient({ socket: { path: socketPath, reconnectStrategy: false } });
      c.on("error", () => {});
      try {
        await c.connect();
        if ((await c.ping()) === "PONG") {
          await c.close();
          break;
        }
      } catch {
        await c.destroy();
      }
    }
    if (Date.now() > deadline) throw new Error("redis-server did not become ready within 30 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socketPath,
    close: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
