// A fake network device for the platform example and demos: an SSH server (ssh2) on 127.0.0.1 that
// answers each exec request with fake/device-cli.sh — the same script the tests run behind a real sshd.

import { spawn } from "node:child_process";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import ssh2, { type Connection } from "ssh2";
import { hostKeyFingerprint } from "./ssh-backend.ts";

export interface FakeDeviceOptions {
  hostname: string;
  username?: string;
  /** Default: random (read it from the result). */
  password?: string;
  port?: number;
}

export interface FakeDevice {
  readonly hostname: string;
  readonly host: string;
  readonly port: number;
  /** SHA256:… of the generated host key, for the inventory's hostKey pin. */
  readonly hostKey: string;
  readonly username: string;
  readonly password: string;
  /** Commands received, in order. */
  readonly commands: string[];
  close(): Promise<void>;
}

// ssh2 is CommonJS: Node's named-export detection does not find Server/utils, the default export has them.
const { Server, utils } = ssh2;

const CLI = fileURLToPath(new URL("../fake/device-cli.sh", import.meta.url));

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export async function startFakeDevice(o: FakeDeviceOptions): Promise<FakeDevice> {
  const keys = utils.generateKeyPairSync("ed25519");
  const parsed = utils.parseKey(keys.public);
  if (parsed instanceof Error) throw parsed;
  const hostKey = hostKeyFingerprint(parsed.getPublicSSH());
  const username = o.username ?? "netops";
  const password = o.password ?? randomBytes(18).toString("base64url");
  const commands: string[] = [];
  const connections = new Set<Connection>();

  const server = new Server({ hostKeys: [keys.private] }, (client) => {
    connections.add(client);
    client.on("close", () => connections.delete(client));
    client.on("error", () => {});
    client.on("authentication", (ctx) => {
      if (ctx.method === "password" && same(ctx.username, username) && same(ctx.password, password)) return ctx.accept();
      ctx.reject(["password"]);
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        session.on("exec", (acceptExec, _reject, info) => {
          const stream = acceptExec();
          commands.push(info.command);
          // As sshd does for a forced command: the client's command line in SSH_ORIGINAL_COMMAND.
          const child = spawn("/bin/sh", [CLI, o.hostname], {
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SSH_ORIGINAL_COMMAND: info.command },
            stdio: ["ignore", "pipe", "pipe"],
          });
          child.stdout.pipe(stream, { end: false });
          child.stderr.pipe(stream.stderr, { end: false });
          // The client closing the channel (limits reached) stops the command.
          stream.on("close", () => child.kill("SIGKILL"));
          child.on("close", (code) => {
            if (stream.writable) {
              stream.exit(code ?? 1);
              stream.end();
            }
          });
        });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    hostname: o.hostname,
    host: "127.0.0.1",
    port,
    hostKey,
    username,
    password,
    commands,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.end();
        server.close(() => resolve());
      }),
  };
}
