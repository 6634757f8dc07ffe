// Dev mode for the quickstart: random API keys generated and printed at start. Refused unless the
// listener is bound to loopback, so a forgotten `dev: true` can never open a public gateway.

import type { ApiKeyConfig } from "../../config/schema-authn.ts";
import { isLoopbackHost } from "../../config/schema-authn.ts";
import type { Secret } from "../../config/secret.ts";
import { type ApiKeyEntry, generateApiKey, hashApiKey } from "./api-keys.ts";

export interface DevMode {
  /** Add to createAuthnFilter({ extraApiKeys }). */
  readonly keys: ApiKeyConfig[];
  /** The plaintext keys (Secret: reveal only to print them). */
  readonly plaintext: { id: string; key: Secret; mfa: boolean }[];
  /** Text for the operator's terminal (stdout, not the log stream): the keys and how to use them. */
  banner(baseUrl: string): string;
}

/** What the MFA-verified dev key's principal carries in `amr` (RFC 8176), the value the default policy accepts. */
export const DEV_MFA_AMR = ["mfa"] as const;

/**
 * Throws unless `listenHost` is loopback. Call at startup before listening when `auth.dev` is true.
 *
 * Keys: `dev-1` counts as MFA-verified (`amr: ["mfa"]`), so the quickstart's user can call write and
 * execute tools, which the default policy gates behind MFA; the others (`count` ≥ 2, default 2) carry
 * no MFA and get the RFC 9470 step-up challenge, as a real password-only login would. This is safe only
 * because dev mode exists on loopback alone: nobody but the machine's own users can present the key.
 * Configured API keys never carry MFA (the config schema has no such field).
 */
export function prepareDevMode(
  listenHost: string,
  o: { count?: number; subject?: string; groups?: string[]; mfa?: boolean } = {},
): DevMode {
  const host = listenHost.replace(/^\[|\]$/g, "");
  if (!isLoopbackHost(host) && host !== "::1") {
    throw new Error(`auth.dev is for local use only: listen.host is ${listenHost}; bind to 127.0.0.1 or configure real issuers / API keys`);
  }
  const plaintext: DevMode["plaintext"] = [];
  const keys: ApiKeyEntry[] = [];
  for (let i = 0; i < (o.count ?? 2); i++) {
    const id = `dev-${i + 1}`;
    const key = generateApiKey("mgw_dev_");
    const mfa = i === 0 && o.mfa !== false;
    plaintext.push({ id, key, mfa });
    keys.push({
      id,
      sha256: hashApiKey(key.reveal()),
      subject: o.subject ?? "developer",
      groups: o.groups ?? ["dev"],
      scopes: [],
      ...(mfa ? { amr: [...DEV_MFA_AMR] } : {}),
    });
  }
  return {
    keys,
    plaintext,
    banner: (baseUrl) =>
      [
        "DEV MODE: authentication uses these generated API keys (valid until the gateway stops; loopback only):",
        ...plaintext.map(
          (p) =>
            `  ${p.id}: ${p.key.reveal()}${p.mfa ? "   (counts as MFA-verified)" : "   (no MFA: write/execute tools answer a step-up challenge)"}`,
        ),
        `  e.g. curl -H "Authorization: Bearer ${plaintext[0]?.key.reveal() ?? "<key>"}" ${baseUrl}/mcp/<server>`,
      ].join("\n"),
  };
}
