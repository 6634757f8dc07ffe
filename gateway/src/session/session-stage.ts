// The session stage: verifies the sealed Mcp-Session-Id, binds it to the principal and attaches the
// backend session; it also seals new sessions and remembers the ones this process saw end.

import type { Filter, LocalReply, Principal } from "../chain/types.ts";
import { isSessionless } from "../codec/era.ts";
import { isObject, type JsonObject } from "../codec/jsonrpc.ts";
import { channels } from "../diagnostics.ts";
import { GatewayError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { ExchangeImpl, Route } from "../relay.ts";
import { declaresFormElicitation } from "../relay-client-requests.ts";
import { MemoryRevocations, type RevocationStore } from "./revocations.ts";
import type { SessionClaims, SessionSealer } from "./sealed-session.ts";

/**
 * The one rule for "this session is the caller's" (MCP security best practices: bind session state to
 * the verified user): same subject and issuer; a session opened without a principal (no authn) matches
 * only a request without one. A mismatch is answered as an unknown session (404), so ids leak nothing.
 */
export function sessionBelongsTo(
  principal: Principal | undefined,
  session: { sub?: string | undefined; iss?: string | undefined },
): boolean {
  return (session.sub ?? null) === (principal?.sub ?? null) && (session.iss ?? null) === (principal?.iss ?? null);
}

export interface SessionStageOptions {
  sealer: SessionSealer;
  ttlSeconds: number;
  routes: ReadonlyMap<string, Route>;
  /** Ended sessions, refused until their own expiry (in memory unless Redis is configured). */
  revocations?: RevocationStore | undefined;
  logger?: Logger | undefined;
}

export class SessionStage {
  readonly #o: SessionStageOptions;
  /** Sessions that ended (DELETE, or lost by the backend): refused until their own expiry, by every replica sharing the store. */
  readonly #ended: RevocationStore;
  readonly filter: Filter;

  constructor(o: SessionStageOptions) {
    this.#o = o;
    this.#ended = o.revocations ?? new MemoryRevocations();
    this.filter = { name: "session", stage: "session", onRequest: (ex) => this.#verify(ex as ExchangeImpl) };
  }

  #verify(ex: ExchangeImpl): LocalReply | undefined | Promise<LocalReply | undefined> {
    if (ex.modern) return undefined;
    if (ex.downstream === "sse") {
      // 2024-11-05 downstream: the session was sealed when the SSE stream opened; check its owner.
      return ex.session && !sessionBelongsTo(ex.principal, ex.session) ? { error: new GatewayError("SESSION_NOT_FOUND") } : undefined;
    }
    if (ex.httpMethod === "POST" && ex.opening) return undefined;
    const pvHeader = ex.headers["mcp-protocol-version"];
    // GET/DELETE under 2026-07-28 have no session: the relay answers them 405.
    if (ex.httpMethod !== "POST" && typeof pvHeader === "string" && isSessionless(pvHeader)) return undefined;
    const sid = ex.headers["mcp-session-id"];
    if (typeof sid !== "string" || sid.length === 0) return { error: new GatewayError("SESSION_REQUIRED") };
    const claims = this.#o.sealer.open(sid);
    if (!claims || claims.srv !== ex.server || !sessionBelongsTo(ex.principal, claims)) {
      return { error: new GatewayError("SESSION_NOT_FOUND") };
    }
    const revoked = this.#ended.isRevoked(sid);
    if (revoked instanceof Promise) {
      return revoked.then(
        (r) => (r ? { error: new GatewayError("SESSION_NOT_FOUND") } : this.#attach(ex, claims, sid)),
        (e) => ({ error: e instanceof GatewayError ? e : new GatewayError("STATE_STORE_UNAVAILABLE", undefined, { cause: e }) }),
      );
    }
    if (revoked) return { error: new GatewayError("SESSION_NOT_FOUND") };
    return this.#attach(ex, claims, sid);
  }

  #attach(ex: ExchangeImpl, claims: SessionClaims, sid: string): LocalReply | undefined {
    const route = this.#o.routes.get(ex.server)!;
    const us = route.upstream.attach(claims);
    ex.session = claims;
    ex.sessionId = sid;
    if (!us) {
      // The stdio child or legacy SSE connection behind it is gone (idle timeout, crash, another process).
      void this.ended(ex, "lost");
      return { error: new GatewayError("SESSION_NOT_FOUND", "the backend session is gone") };
    }
    ex.upstreamSession = us;
    if (ex.headers["mcp-protocol-version"] === undefined) ex.protocolVersion = claims.pv;
    return undefined;
  }

  /** Seal a session for the exchange's principal; `publish` announces it on the session channel. */
  seal(ex: ExchangeImpl, fields: { srv: string; pv: string; up?: string | undefined; bind?: string | undefined }, publish = true): string {
    const claims: Omit<SessionClaims, "n"> = { srv: fields.srv, pv: fields.pv, exp: Math.floor(Date.now() / 1000) + this.#o.ttlSeconds };
    if (fields.up !== undefined) claims.up = fields.up;
    if (fields.bind !== undefined) claims.bind = fields.bind;
    // The client declared form elicitation at initialize: the approval stage may ask it (relay-client-requests.ts).
    if (ex.opening && declaresFormElicitation(ex.messages[0])) claims.el = 1;
    if (ex.principal) {
      claims.sub = ex.principal.sub;
      claims.iss = ex.principal.iss;
    }
    const sid = this.#o.sealer.seal(claims);
    if (publish && channels.session.hasSubscribers)
      channels.session.publish({
        gatewayId: ex.gatewayId,
        server: fields.srv,
        sessionId: sid,
        kind: "opened",
        protocolVersion: fields.pv,
        expiresAt: claims.exp * 1000,
      });
    return sid;
  }

  /** Seal the downstream session id from an InitializeResult; undefined when the result is not one. */
  openFromInitialize(
    ex: ExchangeImpl,
    route: Route,
    result: JsonObject["result"],
    upstreamSessionId: string | undefined,
  ): string | undefined {
    if (!isObject(result)) return undefined;
    const st = ex.upstreamSession?.state() ?? {};
    const pv = typeof result.protocolVersion === "string" ? result.protocolVersion : ex.protocolVersion;
    return this.seal(ex, { srv: route.name, pv, up: st.up ?? upstreamSessionId, bind: st.bind });
  }

  /** Open a session id sealed by this stage (2024-11-05 POST endpoint); undefined when it is not valid. */
  open(token: string): SessionClaims | undefined {
    return this.#o.sealer.open(token);
  }

  /** The session is over (DELETE, or the backend lost it): refuse its id in this process from now on, and say so once. */
  ended(ex: ExchangeImpl, reason: "deleted" | "lost"): Promise<void> {
    const sid = ex.sessionId;
    if (!sid || this.#ended.knownRevoked(sid)) return Promise.resolve();
    const exp = ex.session?.exp ?? this.#o.sealer.open(sid)?.exp ?? Date.now() / 1000 + this.#o.ttlSeconds;
    const stored = this.#ended.revoke(sid, exp).catch((e: unknown) => {
      this.#o.logger?.warn("the ended session could not be recorded in the shared store", {
        "mcp_gateway.server": ex.server,
        "error.code": e instanceof GatewayError ? e.code : "STATE_STORE_UNAVAILABLE",
      });
    });
    if (channels.session.hasSubscribers && ex.session) {
      const opened = (ex.session.exp - this.#o.ttlSeconds) * 1000;
      channels.session.publish({
        gatewayId: ex.gatewayId,
        server: ex.server,
        sessionId: sid,
        kind: "closed",
        durationMs: Math.max(0, Date.now() - opened),
        protocolVersion: ex.session.pv,
        reason,
      });
    }
    return stored;
  }
}
