// The interface between the devices adapter and whatever reaches a device's command line: SSH today
// (ssh-backend.ts), a RADKit client later. The adapter has already checked the command and the device.

import type { Device } from "./inventory.ts";

/** What a backend needs to log in to one device. Injected by the gateway, never a tool argument. */
export interface DeviceCredential {
  username: string;
  password?: string;
  /** OpenSSH or PEM private key. */
  privateKey?: string;
  passphrase?: string;
}

export interface RunLimits {
  /** Whole call: connect, authenticate, run, read (ms). */
  timeoutMs: number;
  /** Output kept (stdout and stderr together); the command is stopped once exceeded. */
  maxOutputBytes: number;
}

export interface CommandResult {
  output: string;
  truncated: boolean;
  timedOut: boolean;
  /** The command's exit status when the device reports one. */
  exitCode: number | null;
  durationMs: number;
}

/**
 * Runs one allow-listed command on one device. Implementations must: honour the limits (stop reading
 * and release the connection when either is reached), honour `signal` (the MCP request's
 * cancellation), verify the device's identity (SSH: the pinned host key), and throw an Error whose
 * message is safe to show to the caller (no credential).
 *
 * A RADKit backend would implement this with the RADKit client: `credential` would be unused (RADKit
 * holds device credentials on its service), and it would need instead the RADKit service serial, the
 * client's enrolled certificate and key (injected like a credential), the mapping from our device name
 * to the RADKit inventory name (`Device.backendRef`), and the client's exec call with a timeout.
 */
export interface DeviceBackend {
  readonly name: string;
  run(
    device: Device,
    command: string,
    credential: DeviceCredential | undefined,
    limits: RunLimits,
    signal?: AbortSignal,
  ): Promise<CommandResult>;
  close?(): Promise<void>;
}
