// The SSH device backend (ssh2): one connection per command on the device's exec channel, the host key
// checked against the inventory's pin, output and time bounded, the connection dropped at either limit.

import { createHash } from "node:crypto";
import { Client, type ConnectConfig } from "ssh2";
import type { CommandResult, DeviceBackend, DeviceCredential, RunLimits } from "./backend.ts";
import type { Device } from "./inventory.ts";

export interface SshBackendOptions {
  /** Accept devices without a pinned host key (lab use only; default false: such devices are refused). */
  trustUnknownHostKeys?: boolean;
}

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l -E sha256` prints it. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

export class SshBackend implements DeviceBackend {
  readonly name = "ssh";
  readonly o: SshBackendOptions;
  constructor(o: SshBackendOptions = {}) {
    this.o = o;
  }

  run(
    device: Device,
    command: string,
    credential: DeviceCredential | undefined,
    limits: RunLimits,
    signal?: AbortSignal,
  ): Promise<CommandResult> {
    if (!credential)
      return Promise.reject(new Error(`no credential for device ${device.name}: the gateway injects them (X-Device-Credentials)`));
    if (!device.hostKey && !this.o.trustUnknownHostKeys) {
      return Promise.reject(new Error(`device ${device.name} has no pinned host key (inventory hostKey) and unknown keys are not trusted`));
    }
    const started = Date.now();
    return new Promise<CommandResult>((resolve, reject) => {
      const conn = new Client();
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      let exitCode: number | null = null;
      let settled = false;
      let hostKeyMismatch: string | undefined;
      const finish = (timedOut: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        conn.end();
        resolve({ output: Buffer.concat(chunks).toString("utf8"), truncated, timedOut, exitCode, durationMs: Date.now() - started });
      };
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        conn.destroy();
        reject(new Error(message));
      };
      const onAbort = () => fail("the call was cancelled");
      signal?.addEventListener("abort", onAbort, { once: true });
      // Connecting and authenticating count against the same budget as the command.
      // Before the command runs a timeout is a failure; once it runs, the output so far is the result.
      let running = false;
      const timer = setTimeout(() => {
        if (running) finish(true);
        else fail(`device ${device.name} did not accept the command within ${limits.timeoutMs} ms`);
      }, limits.timeoutMs);

      const take = (d: Buffer) => {
        if (truncated) return;
        const room = limits.maxOutputBytes - size;
        if (d.length > room) {
          chunks.push(d.subarray(0, room));
          size += room;
          truncated = true;
          finish(false);
          return;
        }
        chunks.push(d);
        size += d.length;
      };

      conn.on("ready", () => {
        conn.exec(command, (err, stream) => {
          if (err) return fail(`device ${device.name} refused the command channel: ${err.message}`);
          running = true;
          stream.on("data", take);
          stream.stderr.on("data", take);
          stream.on("exit", (code: number | null) => {
            exitCode = typeof code === "number" ? code : null;
          });
          stream.on("close", () => finish(false));
        });
      });
      conn.on("error", (err: Error & { level?: string }) => {
        if (hostKeyMismatch) return fail(hostKeyMismatch);
        if (err.level === "client-authentication") return fail(`device ${device.name} refused the login of ${credential.username}`);
        if (err.level === "client-timeout") return fail(`device ${device.name} did not answer the SSH handshake in time`);
        fail(`cannot reach device ${device.name}: ${err.message}`);
      });

      const config: ConnectConfig = {
        host: device.host,
        port: device.port,
        username: credential.username,
        readyTimeout: limits.timeoutMs,
        hostVerifier: (key: Buffer) => {
          if (!device.hostKey) return true;
          const seen = hostKeyFingerprint(key);
          if (seen === device.hostKey) return true;
          hostKeyMismatch = `device ${device.name} presented host key ${seen}, not the pinned ${device.hostKey}`;
          return false;
        },
        ...(credential.password !== undefined ? { password: credential.password } : {}),
        ...(credential.privateKey !== undefined ? { privateKey: credential.privateKey } : {}),
        ...(credential.passphrase !== undefined ? { passphrase: credential.passphrase } : {}),
        // Only the methods the credential has: no keyboard-interactive prompt, no agent.
        tryKeyboard: false,
      };
      try {
        conn.connect(config);
      } catch (err) {
        fail(`device ${device.name}: ${(err as Error).message}`);
      }
    });
  }
}
