// Dev mode for the quickstart: random API keys generated and printed at start. Refused unless the
// listener is bound to loopback, so a forgotten `dev: true` can never open a public gateway.

import type { ApiKeyConfig } from "../../config/schema-authn.ts";
import { isLoopbackHost } from "../../config/schema-authn.ts";
import type { Secret } from "../../config/secret.ts";
import { generateApiKey, hashApiKey } from "./api-keys.ts";

export interface DevMode {
  /** Add to createAuthnFilter({ extraApiKeys }). */
  readonly keys: ApiKeyConfig[];
  /** The plaintext keys (Secret: reveal only to print them). */
  readonly plaintext: { id: string; key: Secret }[];
  /** Text for the operator's terminal (stdout, not the log stream): the keys and how to use them. */
  banner(baseUrl: string): string;
}

/** Throws unless `listenHost` is loopback. Call at startup before listening when `auth.dev` is true. */
export function prepareDevMode(listenHost: string, o: { count?: number; subject?: string; groups?: string[] } = {}): DevMode {
  const host = listenHost.replace(/^\[|\]$/g, "");
  if (!isLoopbackHost(host) && host !== "::1") {
    throw new Error(`auth.dev is for local use only: listen.host is ${listenHost}; bind to 127.0.0.1 or configure real issuers / API keys`);
  }
  const plaintext: { id: string; key: Secret }[] = [];
  const keys: ApiKeyConfig[] = [];
  for (let i = 0; i < (o.count ?? 1); i++) {
    const id = `dev-${i + 1}`;
    const key = generateApiKey("mgw_dev_");
    plaintext.push({ id, key });
    keys.push({ id, sha256: hashApiKey(key.reveal()), subject: o.subject ?? "developer", groups: o.groups ?? ["dev"], scopes: [] });
  }
  return {
    keys,
    plaintext,
    banner: (baseUrl) =>
      [
        "DEV MODE: authentication uses these generated API keys (valid until the gateway stops):",
        ...plaintext.map((p) => `  ${p.id}: ${p.key.reveal()}`),
        `  e.g. curl -H "Authorization: Bearer ${plaintext[0]?.key.reveal() ?? "<key>"}" ${baseUrl}/mcp/<server>`,
      ].join("\n"),
  };
}
