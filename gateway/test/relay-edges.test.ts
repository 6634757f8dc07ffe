// Regression tests for issue 10, bugs 6 and 8: an over-limit body reaches the client as the documented
// 413 (not a broken pipe), and the stdio child that serves 2026-07-28 callers is stopped when idle and
// started afresh on next use, like per-session children.

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERRORS } from "../src/errors.ts";
import type { StdioUpstream } from "../src/upstream/stdio.ts";
import { MODERN_SERVER } from "./fixtures/modern-server.ts";
import { post, startGateway, type TestGateway } from "./helpers.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(
    { modern: { command: process.execPath, args: [MODERN_SERVER, "--stdio"], idleTimeoutMs: 600 } },
    { limits: { maxBodyBytes: 4096, requestTimeoutMs: 20_000 } },
  );
});
afterAll(async () => {
  await gw?.close();
});

/**
 * POST over a raw socket the way many clients do (Python's http.client, curl without Expect): write the
 * whole request first, read the answer after. A server that closes before draining makes the writes
 * fail (EPIPE / ECONNRESET) and the client never sees the 413.
 */
function rawPost(url: string, body: Buffer, chunked: boolean): Promise<{ status: number; body: string } | { error: string }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(u.port), u.hostname);
    let text = "";
    let failed: string | undefined;
    sock.setEncoding("utf8");
    sock.on("error", (e) => {
      failed ??= (e as NodeJS.ErrnoException).code ?? e.message;
    });
    sock.on("close", () => {
      if (failed && !text) return resolve({ error: failed });
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      let payload = rest.join("\r\n\r\n");
      if (/transfer-encoding: chunked/i.test(head)) payload = payload.replace(/^[0-9a-f]+\r\n/i, "").replace(/\r\n0\r\n\r\n$/, "");
      resolve({ status, body: payload });
    });
    sock.on("data", (d: string) => {
      text += d;
    });
    // Not reading while writing, as such clients do: an answer that arrives early waits in the kernel,
    // and is lost if the server resets the connection.
    sock.pause();
    sock.once("connect", async () => {
      const head = [
        `POST ${u.pathname} HTTP/1.1`,
        `host: ${u.host}`,
        "content-type: application/json",
        "accept: application/json, text/event-stream",
        "connection: close",
        chunked ? "transfer-encoding: chunked" : `content-length: ${body.length}`,
        "",
        "",
      ].join("\r\n");
      const write = (b: Buffer | string) =>
        new Promise<void>((r) => {
          sock.write(b, () => r());
        });
      await write(head);
      for (let i = 0; i < body.length && !failed; i += 65536) {
        const piece = body.subarray(i, i + 65536);
        await write(chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")]) : piece);
      }
      if (chunked && !failed) await write("0\r\n\r\n");
      sock.resume();
    });
  });
}

describe("bug 6: an over-limit body", () => {
  const big = Buffer.from(
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { text: "x".repeat(6 * 1024 * 1024) } },
    }),
  );
  it.each([
    ["with Content-Length", false],
    ["chunked", true],
  ])("%s: the client always gets the 413 with its JSON-RPC error", async (_label, chunked) => {
    for (let i = 0; i < 3; i++) {
      const r = await rawPost(`${gw.url}/mcp/modern`, big, chunked);
      expect(r).toMatchObject({ status: 413 });
      const body = JSON.parse((r as { body: string }).body);
      expect(body.error).toMatchObject({ code: ERRORS.BODY_TOO_LARGE.rpc, data: { gatewayCode: "BODY_TOO_LARGE" } });
    }
  });
});

const V = "2026-07-28";
const META = {
  "io.modelcontextprotocol/protocolVersion": V,
  "io.modelcontextprotocol/clientInfo": { name: "raw-test", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};
const modernCall = (id: number) =>
  post(
    `${gw.url}/mcp/modern`,
    { jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { text: `call ${id}` }, _meta: META } },
    { "mcp-protocol-version": V, "mcp-method": "tools/call", "mcp-name": "echo" },
  );

it("bug 8: the 2026-07-28 child is stopped when idle and a fresh one serves the next request", async () => {
  const up = gw.routes.get("modern")!.upstream as StdioUpstream;
  const spawned = () => gw.logs.filter((l) => l.includes("stdio backend spawned")).length;
  const before = spawned();
  const r1 = await modernCall(1);
  expect(r1.status).toBe(200);
  expect(JSON.stringify(await r1.json())).toContain("call 1");
  expect(up.modernSize).toBe(1);
  expect(up.era).toBe("modern");
  for (let i = 0; i < 200 && up.modernSize > 0; i++) await new Promise((r) => setTimeout(r, 25));
  expect(up.modernSize).toBe(0);
  expect(gw.logs.some((l) => l.includes("stdio backend idle, stopping"))).toBe(true);
  const r2 = await modernCall(2);
  expect(r2.status).toBe(200);
  expect(JSON.stringify(await r2.json())).toContain("call 2");
  expect(spawned()).toBe(before + 2);
});
