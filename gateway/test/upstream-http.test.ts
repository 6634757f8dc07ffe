// The Streamable HTTP upstream on undici's handler API: each kind of backend answer (JSON, SSE, 202,
// HTTP error, wrong content type, oversized or broken bodies, aborts) becomes the same UpstreamReply as before.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayError } from "../src/errors.ts";
import { BodyMessages } from "../src/upstream/body.ts";
import { StreamableHttpUpstream } from "../src/upstream/streamable-http.ts";
import type { UpstreamCallContext, UpstreamMessage, UpstreamReply } from "../src/upstream/types.ts";

const answers: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  "/json": (_q, res) => {
    res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "up-1" });
    res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
  },
  "/json-chunked": (_q, res) => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.write('{"jsonrpc":"2.0","id":1,');
    setTimeout(() => res.end('"result":{"t":"é"}}'), 5);
  },
  "/batch": (_q, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]');
  },
  "/not-json": (_q, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{oops");
  },
  "/sse": (_q, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n');
    setTimeout(() => res.end('id: e2\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'), 5);
  },
  "/sse-many": (_q, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    let n = 0;
    const next = () => {
      // Far more chunks than the queue holds before it pauses the socket: backpressure must not lose any.
      while (n < 200) {
        n++;
        if (!res.write(`data: {"jsonrpc":"2.0","method":"notifications/message","params":{"n":${n}}}\n\n`))
          return void res.once("drain", next);
      }
      res.end('data: {"jsonrpc":"2.0","id":1,"result":{}}\n\n');
    };
    next();
  },
  "/sse-crash": (_q, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write('data: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\n\n');
    setTimeout(() => res.socket?.destroy(), 5);
  },
  "/accepted": (_q, res) => {
    res.writeHead(202);
    res.end("ignored");
  },
  "/no-ctype": (_q, res) => {
    res.writeHead(200);
    res.end();
  },
  "/error": (_q, res) => {
    res.writeHead(400, { "content-type": "application/json" });
    res.end('{"error":"bad"}');
  },
  "/error-huge": (_q, res) => {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end("x".repeat(200 * 1024));
  },
  "/html": (_q, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<p>hi</p>");
  },
  "/hang": () => {
    /* never answers */
  },
  "/crash": (req) => req.socket.destroy(),
};

let server: Server;
let base = "";

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => answers[req.url ?? ""]?.(req, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function ctx(signal = new AbortController().signal): UpstreamCallContext {
  return { headers: {}, credentialHeaders: {}, env: {}, signal, protocolVersion: "2025-06-18", lastEventId: undefined };
}

async function call(path: string, c = ctx()): Promise<{ up: StreamableHttpUpstream; reply: UpstreamReply; session?: string }> {
  const up = new StreamableHttpUpstream({ url: base + path, headers: {} });
  let session: string | undefined;
  const reply = await up.call("POST", undefined, '{"jsonrpc":"2.0","id":1,"method":"ping"}', c, (id) => {
    session = id;
  });
  return { up, reply, session };
}

async function collect(reply: UpstreamReply): Promise<UpstreamMessage[]> {
  if (reply.kind !== "messages") throw new Error(`not messages: ${reply.kind}`);
  const out: UpstreamMessage[] = [];
  for await (const m of reply.messages) out.push(m);
  return out;
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof GatewayError ? e.code : `not a GatewayError: ${String(e)}`;
  }
  return "no error";
}

describe("Streamable HTTP upstream (undici handler API)", () => {
  it("a JSON body: one message with its exact text, readable at once, and the backend's session id", async () => {
    const { up, reply, session } = await call("/json");
    expect(session).toBe("up-1");
    expect(reply.kind === "messages" && reply.stream).toBe(false);
    expect(reply.kind === "messages" && reply.messages instanceof BodyMessages && reply.messages.items.length).toBe(1);
    const [m] = await collect(reply);
    expect(m?.text).toBe('{"jsonrpc":"2.0","id":1,"result":{}}');
    await up.close();
  });

  it("a JSON body in several chunks (multi-byte text) and a JSON batch", async () => {
    const a = await call("/json-chunked");
    expect((await collect(a.reply))[0]?.message).toEqual({ jsonrpc: "2.0", id: 1, result: { t: "é" } });
    const b = await call("/batch");
    expect((await collect(b.reply)).map((m) => m.message?.id)).toEqual([1, 2]);
    await Promise.all([a.up.close(), b.up.close()]);
  });

  it("a body that is not JSON is UPSTREAM_BAD_RESPONSE, and so is an unknown content type", async () => {
    const up = new StreamableHttpUpstream({ url: `${base}/not-json`, headers: {} });
    expect(await failure(up.call("POST", undefined, "{}", ctx()))).toBe("UPSTREAM_BAD_RESPONSE");
    const html = new StreamableHttpUpstream({ url: `${base}/html`, headers: {} });
    expect(await failure(html.call("POST", undefined, "{}", ctx()))).toBe("UPSTREAM_BAD_RESPONSE");
    await Promise.all([up.close(), html.close()]);
  });

  it("SSE: messages as events complete, event ids kept", async () => {
    const { up, reply } = await call("/sse");
    expect(reply.kind === "messages" && reply.stream).toBe(true);
    const ms = await collect(reply);
    expect(ms.map((m) => m.message?.method ?? m.message?.id)).toEqual(["notifications/progress", 1]);
    expect(ms[1]?.eventId).toBe("e2");
    await up.close();
  });

  it("SSE with a slow reader: the socket is paused and resumed, nothing is lost", async () => {
    const { up, reply } = await call("/sse-many");
    if (reply.kind !== "messages") throw new Error(reply.kind);
    let n = 0;
    for await (const m of reply.messages) {
      n++;
      if (n % 50 === 0) await new Promise((r) => setTimeout(r, 2));
      if (m.message?.id === 1) break;
    }
    expect(n).toBe(201);
    await up.close();
  });

  it("SSE cut by the backend mid-stream: the messages so far, then UPSTREAM_CLOSED", async () => {
    const { up, reply } = await call("/sse-crash");
    if (reply.kind !== "messages") throw new Error(reply.kind);
    const seen: unknown[] = [];
    const code = await failure(
      (async () => {
        for await (const m of reply.messages) seen.push(m.message?.method);
      })(),
    );
    expect(seen).toEqual(["notifications/progress"]);
    expect(code).toBe("UPSTREAM_CLOSED");
    await up.close();
  });

  it("202 (with a body to drop) and a 2xx without content type are 'accepted'", async () => {
    const a = await call("/accepted");
    const b = await call("/no-ctype");
    expect([a.reply.kind, b.reply.kind]).toEqual(["accepted", "accepted"]);
    await Promise.all([a.up.close(), b.up.close()]);
  });

  it("HTTP errors are relayed with their body, bounded to 64 KiB", async () => {
    const a = await call("/error");
    expect(a.reply).toEqual({ kind: "http-error", status: 400, contentType: "application/json", body: '{"error":"bad"}' });
    const b = await call("/error-huge");
    expect(b.reply.kind === "http-error" && b.reply.body.length).toBe(64 * 1024);
    await Promise.all([a.up.close(), b.up.close()]);
  });

  it("an abort (the relay's timer) ends a call that has no answer yet, with the abort's reason", async () => {
    const ac = new AbortController();
    const up = new StreamableHttpUpstream({ url: `${base}/hang`, headers: {} });
    const p = up.call("POST", undefined, "{}", ctx(ac.signal));
    setTimeout(() => ac.abort(new GatewayError("UPSTREAM_TIMEOUT", "test")), 20);
    expect(await failure(p)).toBe("UPSTREAM_TIMEOUT");
    const pre = new AbortController();
    pre.abort(new GatewayError("UPSTREAM_CLOSED", "client gone"));
    expect(await failure(up.call("POST", undefined, "{}", ctx(pre.signal)))).toBe("UPSTREAM_CLOSED");
    await up.close();
  });

  it("a backend that drops the connection or is not there", async () => {
    const { up } = { up: new StreamableHttpUpstream({ url: `${base}/crash`, headers: {} }) };
    expect(await failure(up.call("POST", undefined, "{}", ctx()))).toBe("UPSTREAM_CLOSED");
    const down = new StreamableHttpUpstream({ url: "http://127.0.0.1:1/mcp", headers: {} });
    expect(await failure(down.call("POST", undefined, "{}", ctx()))).toBe("UPSTREAM_UNAVAILABLE");
    await Promise.all([up.close(), down.close()]);
  });
});
