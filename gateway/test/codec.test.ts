// Codec: JSON-RPC classification and the incremental SSE parser (events split anywhere).
import { describe, expect, it } from "vitest";
import { checkJsonText, unambiguousText } from "../src/codec/json-depth.ts";
import { parseBody, targetOf, toMessage } from "../src/codec/jsonrpc.ts";
import { spliceMeta } from "../src/codec/splice-meta.ts";
import { formatSse, SseParser } from "../src/codec/sse.ts";
import { GatewayError } from "../src/errors.ts";

describe("JSON-RPC", () => {
  it("publishes method, target, arguments and kind once", () => {
    const m = toMessage({ jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "echo", arguments: { text: "x" } } });
    expect(m).toMatchObject({ kind: "request", id: "a", method: "tools/call", target: "echo", arguments: { text: "x" } });
    expect(toMessage({ jsonrpc: "2.0", method: "notifications/initialized" }).kind).toBe("notification");
    expect(toMessage({ jsonrpc: "2.0", id: 1, result: {} }).kind).toBe("response");
    expect(toMessage({ jsonrpc: "2.0", id: null, error: { code: 1, message: "x" } }).kind).toBe("response");
    expect(targetOf("resources/read", { uri: "demo://x" })).toBe("demo://x");
    expect(targetOf("prompts/get", { name: "greet" })).toBe("greet");
    expect(targetOf("completion/complete", { ref: { type: "ref/prompt", name: "greet" } })).toBe("greet");
    expect(targetOf("tools/list", {})).toBeUndefined();
  });
  it.each([
    ["not an object", 1],
    ["array member", [1]],
    ["no jsonrpc", { id: 1, method: "x" }],
    ["bad id type", { jsonrpc: "2.0", id: true, method: "x" }],
    ["fractional id", { jsonrpc: "2.0", id: 1.5, method: "x" }],
    ["empty method", { jsonrpc: "2.0", id: 1, method: "" }],
    ["params array", { jsonrpc: "2.0", id: 1, method: "x", params: [] }],
    ["result and error", { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "" } }],
    ["neither", { jsonrpc: "2.0", id: 1 }],
    ["response without id", { jsonrpc: "2.0", result: {} }],
  ])("refuses %s", (_n, v) => {
    expect(() => toMessage(v)).toThrow(GatewayError);
  });
  it("parses bodies", () => {
    expect(parseBody('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({ batch: false, messages: [{ method: "ping" }] });
    expect(parseBody('[{"jsonrpc":"2.0","id":1,"method":"ping"}]').batch).toBe(true);
    expect(() => parseBody("{")).toThrow(expect.objectContaining({ code: "PARSE_ERROR" }));
    expect(() => parseBody("[]")).toThrow(expect.objectContaining({ code: "EMPTY_BATCH" }));
  });
});

describe("JSON text checks", () => {
  it("finds a member named twice in any object, after unescaping, and nothing else", () => {
    expect(checkJsonText('{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}')).toBeUndefined();
    expect(checkJsonText('{"a":1,"b":2,"a":3}')).toEqual({ kind: "duplicate-member", name: "a" });
    expect(checkJsonText('{"x":{"k":1,"\\u006b":2}}')).toEqual({ kind: "duplicate-member", name: "k" });
    expect(checkJsonText('[{"a":1},{"b":1,"b":2}]')).toEqual({ kind: "duplicate-member", name: "b" });
    // Names are only names: the same text as a value, or inside a string, is not a member.
    expect(checkJsonText('{"a":"a","s":"{\\"a\\":1,\\"a\\":2}","v":["a","a"]}')).toBeUndefined();
    // Many members (the Set path).
    const many = `{${Array.from({ length: 20 }, (_, i) => `"m${i}":${i}`).join(",")},"m19":0}`;
    expect(checkJsonText(many)).toEqual({ kind: "duplicate-member", name: "m19" });
    expect(checkJsonText(`${"[".repeat(65)}${"]".repeat(65)}`)).toEqual({ kind: "too-deep" });
    expect(checkJsonText(`${"[".repeat(64)}${"]".repeat(64)}`)).toBeUndefined();
    // Malformed text is the parser's to reject.
    expect(checkJsonText('{"a\\x":1}')).toBeUndefined();
    expect(unambiguousText('{"a":1}')).toBe('{"a":1}');
    expect(unambiguousText('{"a":1,"a":1}')).toBeUndefined();
    expect(() => parseBody('{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}')).toThrow(GatewayError);
  });
});

describe("trace context spliced into the text", () => {
  const add = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
  // What re-serialising with the context merged in gives: the splice must parse to the same value.
  const merged = (text: string) => {
    const v = JSON.parse(text) as { params?: Record<string, unknown> };
    return { ...v, params: { ...(v.params ?? {}), _meta: add } };
  };
  it("adds _meta to params (or params itself), keeping the client's bytes, whatever the member order", () => {
    for (const text of [
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"params":{"x":1},"s":"{\\"params\\":"}}}',
      '{"params":{"name":"a"},"jsonrpc":"2.0","id":2,"method":"tools/call"}',
      '{ "jsonrpc" : "2.0", "id" : 3, "method" : "ping", "params" : { } }',
      '{"jsonrpc":"2.0","id":4,"method":"ping"}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":5,"x":{"params":{}},"method":"ping"}',
      '{"jsonrpc":"2.0","id":1.50,"method":"ping","params":{"n":12345678901234567890}}',
    ]) {
      const params = (JSON.parse(text) as { params?: unknown }).params;
      const out = spliceMeta(text, add, params);
      expect(out, text).toBeDefined();
      expect(JSON.parse(out!), text).toEqual(merged(text));
    }
    // Number spellings survive (re-serialising would round the big one).
    const big = '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"n","arguments":{"v":12345678901234567890}}}';
    expect(spliceMeta(big, add, (JSON.parse(big) as { params: unknown }).params)).toContain("12345678901234567890");
  });
  it("declines what insertion cannot do: an existing _meta, params that is not an object", () => {
    const withMeta = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"progressToken":1}}}';
    expect(spliceMeta(withMeta, add, (JSON.parse(withMeta) as { params: unknown }).params)).toBeUndefined();
    expect(spliceMeta('{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}', add, [1])).toBeUndefined();
  });
});

describe("SSE parser", () => {
  const stream = `: comment\r\nevent: message\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: second\n\nid: prime\n\nretry: 500\ndata: x\r\rdata: y\n\n`;
  const expected = [
    { event: "message", id: "7", data: '{"a":\n1}', retry: undefined },
    { event: undefined, id: undefined, data: "second", retry: undefined },
    { event: undefined, id: "prime", data: "", retry: undefined },
    { event: undefined, id: undefined, data: "x", retry: 500 },
    { event: undefined, id: undefined, data: "y", retry: undefined },
  ];
  it("parses a whole stream", () => {
    expect(new SseParser().push(stream)).toEqual(expected);
  });
  it("gives the same events however the stream is split (every split point, and byte by byte)", () => {
    for (let i = 0; i <= stream.length; i++) {
      const p = new SseParser();
      expect([...p.push(stream.slice(0, i)), ...p.push(stream.slice(i))]).toEqual(expected);
    }
    const p = new SseParser();
    const out = [];
    for (const ch of stream) out.push(...p.push(ch));
    expect(out).toEqual(expected);
  });
  it("round-trips through formatSse, including multi-line data", () => {
    const evs = [
      { event: "message", id: "1", data: "line1\nline2", retry: undefined },
      { event: undefined, id: undefined, data: '{"jsonrpc":"2.0"}', retry: undefined },
    ];
    expect(new SseParser().push(evs.map((e) => formatSse(e)).join(""))).toEqual(evs);
    expect(formatSse({ data: undefined, id: "p1" })).toBe("id: p1\ndata: \n\n");
  });
  it("strips a BOM and ignores unknown fields", () => {
    expect(new SseParser().push("\ufeffdata: a\nfoo: bar\n\n")).toEqual([{ event: undefined, id: undefined, data: "a", retry: undefined }]);
  });
});
