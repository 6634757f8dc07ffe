// Fail closed with the OPA sidecar: killed mid-run, slow, or answering nonsense → every request is
// denied with AUTHZ_UNAVAILABLE, none let through; OPA back → decisions resume (ARCHITECTURE.md inv. 1).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type OpaServer, startOpa } from "../../../policies/test/opa.ts";
import { Authorizer } from "../../src/filters/authz/authorizer.ts";
import { createAuthzFilter } from "../../src/filters/authz/filter.ts";
import { SidecarEngine } from "../../src/filters/authz/sidecar-engine.ts";
import { AuthzEngineError } from "../../src/filters/authz/types.ts";
import { exchange, principal, toolCall } from "./exchange.ts";
import { call } from "./inputs.ts";

const quiet = { info() {}, warn() {}, error() {} };
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("OPA sidecar killed mid-run", () => {
  let opa: OpaServer | undefined;
  afterAll(async () => opa?.kill());

  it("denies everything with AUTHZ_UNAVAILABLE while OPA is down, and resumes when it is back", async () => {
    opa = await startOpa();
    const engine = new SidecarEngine({ url: opa.url, timeoutMs: 1000, connections: 4 });
    const authorizer = new Authorizer({ engine, cache: { ttlMs: 0 }, decisionLog: { enabled: false }, logger: quiet });
    cleanups.push(() => authorizer.close());
    const filter = createAuthzFilter({ authorizer, servers: { github: { actions: { list_repos: "read" } } } });
    const ex = exchange("github", principal(["developers"]));

    // Up: allowed.
    expect(await filter.onMessage!(ex, toolCall("list_repos"))).toBeUndefined();

    // Decisions in flight while OPA is killed: each is either a real allow (answered before the
    // kill) or AUTHZ_UNAVAILABLE; after the kill, every one is AUTHZ_UNAVAILABLE.
    const during = Array.from({ length: 40 }, (_, i) =>
      new Promise((r) => setTimeout(r, i * 2)).then(() => filter.onMessage!(ex, toolCall("list_repos"))),
    );
    await new Promise((r) => setTimeout(r, 20));
    await opa.kill();
    for (const v of await Promise.all(during)) {
      if (v !== undefined) expect(v.error.code).toBe("AUTHZ_UNAVAILABLE");
    }
    for (let i = 0; i < 20; i++) {
      const v = await filter.onMessage!(ex, toolCall("list_repos"));
      expect(v?.error.code).toBe("AUTHZ_UNAVAILABLE");
      expect(v?.error.spec.http).toBe(503);
    }
    expect(authorizer.stats.errors).toBeGreaterThanOrEqual(20);

    // Back on the same port: the pool reconnects and decisions resume.
    opa = await startOpa({ port: opa.port });
    let resumed = false;
    for (let i = 0; i < 50 && !resumed; i++) {
      resumed = (await filter.onMessage!(ex, toolCall("list_repos"))) === undefined;
      if (!resumed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(resumed).toBe(true);
    // And a deny is still a deny (not an engine error).
    const denied = await filter.onMessage!(exchange("servicenow", principal(["developers"])), toolCall("get_incident"));
    expect(denied?.error.code).toBe("AUTHZ_DENIED");
  });
});

/** A fake OPA answering with `handler`. */
async function fakeOpa(handler: (body: string, res: import("node:http").ServerResponse) => void): Promise<string> {
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => handler(body, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("OPA sidecar slow or answering nonsense", () => {
  it("denies with a timeout when OPA is slower than timeoutMs", async () => {
    const url = await fakeOpa((_b, res) => {
      const t = setTimeout(() => res.end(JSON.stringify({ result: { allow: true, reason: "late" } })), 2000);
      res.on("close", () => clearTimeout(t));
    });
    const engine = new SidecarEngine({ url, timeoutMs: 100 });
    cleanups.push(() => engine.close());
    const t0 = performance.now();
    const err = await engine.decide(call(["admin"], ["mfa"], "github", "t", "read")).catch((e) => e);
    expect(err).toBeInstanceOf(AuthzEngineError);
    expect(err.kind).toBe("timeout");
    expect(performance.now() - t0).toBeLessThan(1500);

    const authorizer = new Authorizer({ engine, decisionLog: { enabled: false }, logger: quiet });
    const filter = createAuthzFilter({ authorizer });
    const v = await filter.onMessage!(exchange("github", principal(["admin"], ["mfa"])), toolCall("t"));
    expect(v?.error.code).toBe("AUTHZ_UNAVAILABLE");
  });

  const garbage: Array<[string, (res: import("node:http").ServerResponse) => void]> = [
    ["not JSON", (res) => res.end("allow")],
    ["no result (undefined document)", (res) => res.end("{}")],
    ["result is a string", (res) => res.end(JSON.stringify({ result: "allow" }))],
    ["result is true", (res) => res.end(JSON.stringify({ result: true }))],
    ["allow is a string", (res) => res.end(JSON.stringify({ result: { allow: "true", reason: "x" } }))],
    ["no reason", (res) => res.end(JSON.stringify({ result: { allow: true } }))],
    ["step_up malformed", (res) => res.end(JSON.stringify({ result: { allow: false, reason: "x", step_up: "mfa" } }))],
    ["array body", (res) => res.end("[]")],
    [
      "HTTP 500 with an allowing body",
      (res) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ result: { allow: true, reason: "x" } }));
      },
    ],
    ["connection reset", (res) => res.socket?.destroy()],
    ["oversized answer", (res) => res.end(`{"result":{"allow":true,"reason":"${"x".repeat(2 * 1024 * 1024)}"}}`)],
  ];

  for (const [name, answer] of garbage) {
    it(`denies when OPA answers: ${name}`, async () => {
      const url = await fakeOpa((_b, res) => answer(res));
      const engine = new SidecarEngine({ url, timeoutMs: 2000 });
      const authorizer = new Authorizer({ engine, decisionLog: { enabled: false }, logger: quiet });
      cleanups.push(() => authorizer.close());
      const out = await authorizer.decide(call(["admin"], ["mfa"], "github", "t", "read"));
      expect(out.decision.allow).toBe(false);
      expect(out.error).toBeInstanceOf(AuthzEngineError);
      const filter = createAuthzFilter({ authorizer });
      const v = await filter.onMessage!(exchange("github", principal(["admin"], ["mfa"])), toolCall("t"));
      expect(v?.error.code).toBe("AUTHZ_UNAVAILABLE");
    });
  }

  it("sends the input as {input} to /v1/data/mcp/authz/decision with keep-alive and the bearer token", async () => {
    const seen: Array<{ url: string | undefined; auth: string | undefined; body: string; socket: number }> = [];
    let sockets = 0;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        seen.push({ url: req.url, auth: req.headers.authorization, body, socket: (req.socket as unknown as { n: number }).n });
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ result: { allow: true, reason: "ok" } }));
      });
    });
    server.on("connection", (s) => {
      (s as unknown as { n: number }).n = ++sockets;
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const { Secret } = await import("../../src/config/secret.ts");
    const engine = new SidecarEngine({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/opa/`,
      connections: 1,
      token: new Secret("s3cret"),
    });
    cleanups.push(() => engine.close());
    const input = call(["admin"], ["mfa"], "github", "t", "read");
    for (let i = 0; i < 5; i++) expect((await engine.decide(input)).allow).toBe(true);
    expect(seen).toHaveLength(5);
    expect(seen[0]!.url).toBe("/opa/v1/data/mcp/authz/decision");
    expect(seen[0]!.auth).toBe("Bearer s3cret");
    expect(JSON.parse(seen[0]!.body)).toEqual({ input });
    expect(new Set(seen.map((s) => s.socket)).size).toBe(1); // one kept-alive connection
  });
});
