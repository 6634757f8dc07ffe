// Per-device login credentials as the gateway injects them: a header (HTTP) or environment variables
// (stdio), holding one default credential and per-device overrides. Never a tool argument.

import { z } from "zod";
import type { DeviceCredential } from "./backend.ts";

const credentialSchema = z
  .object({
    username: z.string().min(1),
    password: z.string().min(1).optional(),
    privateKey: z.string().min(1).optional(),
    passphrase: z.string().optional(),
  })
  .strict()
  .refine((c) => c.password !== undefined || c.privateKey !== undefined, "a credential needs password or privateKey");

const bundleSchema = z
  .object({
    default: credentialSchema.optional(),
    devices: z.record(z.string(), credentialSchema).default({}),
  })
  .strict();

export type CredentialBundle = z.infer<typeof bundleSchema>;

/** Headers the gateway injects (`servers.devices.credentials.inject.headers`). */
export const CREDENTIALS_HEADER = "x-device-credentials";
export const USERNAME_HEADER = "x-device-username";
export const PASSWORD_HEADER = "x-device-password";

/**
 * Parse a credential bundle: JSON `{"default": {...}, "devices": {"name": {...}}}`, or that JSON
 * base64-encoded (a private key's newlines cannot travel in a header). Errors never quote the value.
 */
export function parseBundle(text: string): CredentialBundle {
  const t = text.trim();
  let json: unknown;
  try {
    json = JSON.parse(t.startsWith("{") ? t : Buffer.from(t, "base64").toString("utf8"));
  } catch {
    throw new Error("device credentials are neither JSON nor base64-encoded JSON");
  }
  const r = bundleSchema.safeParse(json);
  if (!r.success)
    throw new Error(
      `device credentials are malformed: ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

function bundleFrom(bundle: string | undefined, username: string | undefined, password: string | undefined): CredentialBundle | undefined {
  const b = bundle ? parseBundle(bundle) : { devices: {} };
  if (username && password && !b.default) b.default = { username, password };
  return b.default || Object.keys(b.devices).length > 0 ? b : undefined;
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export function bundleFromHeaders(h: Record<string, string | string[] | undefined> | undefined): CredentialBundle | undefined {
  return bundleFrom(one(h?.[CREDENTIALS_HEADER]), one(h?.[USERNAME_HEADER]), one(h?.[PASSWORD_HEADER]));
}

export function bundleFromEnv(env: NodeJS.ProcessEnv = process.env): CredentialBundle | undefined {
  return bundleFrom(env.DEVICE_CREDENTIALS, env.DEVICE_USERNAME, env.DEVICE_PASSWORD);
}

export function credentialFor(bundle: CredentialBundle | undefined, device: string): DeviceCredential | undefined {
  const c = bundle?.devices[device] ?? bundle?.default;
  if (!c) return undefined;
  return {
    username: c.username,
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.privateKey !== undefined ? { privateKey: c.privateKey } : {}),
    ...(c.passphrase !== undefined ? { passphrase: c.passphrase } : {}),
  };
}
