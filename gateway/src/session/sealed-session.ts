// Sealed session ids: the downstream Mcp-Session-Id is an AES-256-GCM token holding the session's
// state, so any replica with the same key can continue it without a shared store (ARCHITECTURE.md,
// "Sessions and scale-out"). The key is derived once with HKDF; sealing/opening costs a few µs.

import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject, randomBytes } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { Secret } from "../config/secret.ts";

export interface SessionClaims {
  /** Route (server) name the session belongs to. */
  srv: string;
  /** Protocol version negotiated at initialize. */
  pv: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Upstream Mcp-Session-Id (Streamable HTTP backends). */
  up?: string;
  /** Process-local binding "<instance>:<key>" (stdio children, legacy SSE connections). */
  bind?: string;
  /** Subject and issuer of the principal that opened the session. */
  sub?: string;
  iss?: string;
  /** 1 when the client declared form-mode elicitation at initialize (the approval stage may ask it). */
  el?: 1;
  /** Random nonce making each session id unique even with identical state. */
  n: string;
}

const PREFIX = "g1.";
const AAD = Buffer.from("mcp-gateway session v1");
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class SessionSealer {
  // A KeyObject, made once: Node re-imports a raw Buffer key on every cipher (≈5x slower per call).
  readonly #key: KeyObject;
  /** Recently opened tokens → claims, so the hot path decrypts a session id once (expiry still checked). */
  readonly #opened = new LRUCache<string, SessionClaims>({ max: 10_000 });
  constructor(key: Secret) {
    this.#key = createSecretKey(Buffer.from(hkdfSync("sha256", key.reveal(), "mcp-gateway/session", "aes-256-gcm session id v1", 32)));
  }

  seal(claims: Omit<SessionClaims, "n">): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.#key, iv);
    c.setAAD(AAD);
    const body = Buffer.from(JSON.stringify({ ...claims, n: randomBytes(6).toString("base64url") }));
    const ct = Buffer.concat([c.update(body), c.final()]);
    return PREFIX + Buffer.concat([iv, ct, c.getAuthTag()]).toString("base64url");
  }

  /** The claims of a valid, unexpired token; undefined for anything else (unknown, tampered, expired). */
  open(token: string, nowSeconds = Date.now() / 1000): SessionClaims | undefined {
    const hit = this.#opened.get(token);
    if (hit) return hit.exp > nowSeconds ? hit : undefined;
    const claims = this.#decrypt(token, nowSeconds);
    if (claims) this.#opened.set(token, Object.freeze(claims));
    return claims;
  }

  #decrypt(token: string, nowSeconds: number): SessionClaims | undefined {
    if (!token.startsWith(PREFIX) || token.length > 4096) return undefined;
    const text = token.slice(PREFIX.length);
    // Exactly one spelling per session: unpadded base64url whose re-encoding is the text itself. Node's
    // decoder also takes padding, "+/" and stray characters, which would give one sealed id many names
    // (and a revoked id a second life under another one).
    if (!BASE64URL.test(text)) return undefined;
    const raw = Buffer.from(text, "base64url");
    if (raw.length < 12 + 16 + 2 || raw.toString("base64url") !== text) return undefined;
    try {
      const d = createDecipheriv("aes-256-gcm", this.#key, raw.subarray(0, 12));
      d.setAAD(AAD);
      d.setAuthTag(raw.subarray(raw.length - 16));
      const body = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
      const claims = JSON.parse(body.toString("utf8")) as SessionClaims;
      if (typeof claims.exp !== "number" || claims.exp <= nowSeconds) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }
}
