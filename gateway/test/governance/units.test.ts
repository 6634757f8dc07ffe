// Unit tests of the governance pieces: definition hashing, the pin book, the file store (locking,
// concurrent writers, external approvals, bad files), the validators, the pins filter and capability detection.

import { mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Exchange } from "../../src/chain/types.ts";
import type { RpcMessage } from "../../src/codec/jsonrpc.ts";
import { parseConfig } from "../../src/config/load.ts";
import { definitionDiff, lineDiff } from "../../src/filters/pins/diff.ts";
import { createPinsFilter } from "../../src/filters/pins/filter.ts";
import { approve, emptyState, MAX_PINS_PER_ROUTE, observe, PinStateError } from "../../src/filters/pins/state.ts";
import { FilePinStore, MemoryPinStore } from "../../src/filters/pins/store.ts";
import { canonicalJson, definitionHash, type KnownTool, ToolCatalog } from "../../src/filters/tool-catalog/catalog.ts";
import { createValidationFilter, exceedsBounds } from "../../src/filters/validation/filter.ts";
import { declaresFormElicitation } from "../../src/relay-client-requests.ts";
import { TEST_KEY } from "../helpers.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gov-units-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const tool = (description: string, extra: Record<string, unknown> = {}) => ({
  name: "deploy",
  description,
  inputSchema: { type: "object", properties: { site: { type: "string" } } },
  ...extra,
});
const known = (entry: Record<string, unknown>): KnownTool => new ToolCatalog().learn("r", entry)!;

describe("definition hash", () => {
  it("ignores key order and presentation fields, and sees every pinned field", () => {
    const a = tool("x");
    const b = { inputSchema: { properties: { site: { type: "string" } }, type: "object" }, description: "x", name: "deploy" };
    expect(known(a).hash).toBe(known(b).hash);
    expect(known({ ...a, _meta: { ui: 1 }, icons: [{ src: "x" }] }).hash).toBe(known(a).hash);
    for (const change of [
      { description: "y" },
      { title: "T" },
      { annotations: { readOnlyHint: true } },
      { outputSchema: { type: "object" } },
    ]) {
      expect(known({ ...a, ...change }).hash).not.toBe(known(a).hash);
    }
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
    expect(definitionHash({ name: "x" })).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(new ToolCatalog().learn("r", { description: "no name" })).toBeUndefined();
    let deep: unknown = {};
    for (let i = 0; i < 200; i++) deep = { x: deep };
    expect(new ToolCatalog().learn("r", { name: "deep", inputSchema: deep })?.hash).toMatch(/^sha256-raw:/);
  });
});

describe("pin book", () => {
  it("pins on first sight, records each distinct change once, forgets a change the backend reverted", () => {
    const s = emptyState();
    const v1 = known(tool("one"));
    const v2 = known(tool("two"));
    const v3 = known(tool("three"));
    expect(observe(s, "r", v1, "g", "t0").map((e) => e.type)).toEqual(["pinned"]);
    expect(observe(s, "r", v1, "g", "t1")).toEqual([]);
    expect(observe(s, "r", v2, "g", "t2")).toMatchObject([{ type: "changed", hash: v2.hash, previousHash: v1.hash }]);
    expect(observe(s, "r", v2, "g", "t3")).toEqual([]);
    expect(observe(s, "r", v3, "g", "t4").map((e) => e.type)).toEqual(["changed"]);
    expect(s.pending.r?.deploy?.hash).toBe(v3.hash);
    expect(observe(s, "r", v1, "g", "t5")).toEqual([]);
    expect(s.pending.r?.deploy).toBeUndefined();
    expect(s.seq).toBe(3);
  });

  it("a route holds at most MAX_PINS_PER_ROUTE pins (a backend cannot grow the store without bound)", () => {
    const s = emptyState();
    const pins: (typeof s.pins)[string] = {};
    for (let i = 0; i < MAX_PINS_PER_ROUTE; i++) pins[`t${i}`] = { hash: "h", definition: { name: `t${i}` }, pinnedAt: "t" };
    s.pins.r = pins;
    expect(observe(s, "r", known({ name: "one-too-many" }), "g", "t")).toEqual([]);
    expect(s.pins.r?.["one-too-many"]).toBeUndefined();
    expect(observe(s, "other", known({ name: "one-too-many" }), "g", "t")).toHaveLength(1);
  });

  it("approves only the reviewed pending definition (hash or prefix)", () => {
    const s = emptyState();
    observe(s, "r", known(tool("one")), "g", "t0");
    const v2 = known(tool("two"));
    observe(s, "r", v2, "g", "t1");
    expect(() => approve(s, "r", "other", undefined, "op", "cli", "t2")).toThrow(PinStateError);
    expect(() => approve(s, "r", "deploy", "sha256:0000", "op", "cli", "t2")).toThrow(/not sha256:0000/);
    const e = approve(s, "r", "deploy", v2.hash.slice(7, 19), "op", "cli", "t2");
    expect(e).toMatchObject({ type: "approved", hash: v2.hash, by: "op", origin: "cli" });
    expect(s.pins.r?.deploy).toMatchObject({ hash: v2.hash, approvedBy: "op" });
    expect(s.pending.r?.deploy).toBeUndefined();
  });

  it("the diff names the changed fields only", () => {
    const d = definitionDiff(known(tool("one")).definition, known(tool("two", { annotations: { destructiveHint: true } })).definition);
    expect(d.map((c) => c.field)).toEqual(["description", "annotations"]);
    expect(lineDiff(["a", "b", "c"], ["a", "x", "c"])).toEqual(["  a", "- b", "+ x", "  c"]);
  });
});

describe("file pin store", () => {
  it("two gateways and the CLI share one file without losing changes; approvals reach running gateways", async () => {
    const path = join(dir, "shared.json");
    const a = await FilePinStore.open({ path, origin: "gw-a", reloadMs: 20 });
    const b = await FilePinStore.open({ path, origin: "gw-b", reloadMs: 20 });
    const seen: string[] = [];
    a.onExternalEvent((e) => seen.push(`${e.type}:${e.tool}:${e.origin}`));
    try {
      // Concurrent first sights of different tools by two writers.
      for (let i = 0; i < 10; i++) {
        a.observe("r", known({ name: `a${i}`, description: "x" }));
        b.observe("r", known({ name: `b${i}`, description: "x" }));
      }
      await Promise.all([a.settled(), b.settled()]);
      const file = JSON.parse(await readFile(path, "utf8"));
      expect(Object.keys(file.pins.r).sort()).toHaveLength(20);
      a.observe("r", known({ name: "a0", description: "changed" }));
      await a.settled();
      const cli = await FilePinStore.open({ path, origin: "cli", reloadMs: 0 });
      const e = await cli.approve("r", "a0", undefined, "sec-ops");
      await cli.close();
      const end = Date.now() + 10_000;
      while (a.pinned("r", "a0")?.hash !== e.hash && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(a.pinned("r", "a0")?.hash).toBe(e.hash);
      expect(seen).toContain("approved:a0:cli");
      expect(seen.some((x) => x.startsWith("pinned:b"))).toBe(true); // gw-b's pins, learned from the file
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("refuses a file that is not a pin file, and a lock another writer holds; takes over a stale lock", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, "{ nope");
    await expect(FilePinStore.open({ path: bad, origin: "g", reloadMs: 0 })).rejects.toThrow(/is not JSON/);
    await writeFile(bad, JSON.stringify({ version: 2 }));
    await expect(FilePinStore.open({ path: bad, origin: "g", reloadMs: 0 })).rejects.toThrow(PinStateError);
    await writeFile(bad, JSON.stringify({ version: 1, pins: { r: { t: { hash: 1 } } } }));
    await expect(FilePinStore.open({ path: bad, origin: "g", reloadMs: 0 })).rejects.toThrow(/pins.r.t needs "hash"/);

    const path = join(dir, "locked.json");
    const s = await FilePinStore.open({ path, origin: "g", reloadMs: 0, lockTimeoutMs: 200 });
    s.observe("r", known(tool("one")));
    await s.settled();
    s.observe("r", known(tool("two")));
    await s.settled();
    await writeFile(`${path}.lock`, "12345");
    await expect(s.approve("r", "deploy", undefined, "op")).rejects.toThrow(/is locked/);
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    await expect(s.approve("r", "deploy", undefined, "op")).resolves.toMatchObject({ type: "approved" });
    await s.close();
  });

  it("the config names the store; relative paths are relative to the config file", () => {
    const c = parseConfig(
      {
        sessions: { key: TEST_KEY },
        servers: { a: { url: "http://127.0.0.1:1/mcp" } },
        governance: { pins: { store: { type: "file", path: "p.json" } } },
      },
      dir,
    );
    expect(c.governance.pins.store).toEqual({ type: "file", path: "p.json" });
    expect(c.servers.a!.tools).toEqual({ pins: "enforce", validation: "enforce" });
    expect(() =>
      parseConfig({ sessions: { key: TEST_KEY }, servers: { a: { url: "http://x/mcp", tools: { pins: "maybe" } } } }, dir),
    ).toThrow(/servers\.a/);
  });
});

const ex = (server = "r") => ({ server, vars: new Map() }) as unknown as Exchange;
const callMsg = (target: string, args: unknown): RpcMessage => ({
  kind: "request",
  id: 1,
  method: "tools/call",
  target,
  arguments: args,
  raw: {},
});
const codeOf = (v: unknown) => (v as { error?: { code: string } } | undefined)?.error?.code;

describe("validation filter", () => {
  const catalog = new ToolCatalog();
  const make = (o: Partial<Parameters<typeof createValidationFilter>[0]> = {}) =>
    createValidationFilter({
      routes: { loose: "off" },
      lookup: (r, t) => catalog.current(r, t),
      unknownTools: "forward",
      maxDepth: 8,
      maxNodes: 50,
      cacheSize: 2,
      maxSchemaChars: 2000,
      ...o,
    });

  it("draft-07 and 2020-12 schemas, unusable schemas, non-object arguments, unknown tools, routes with validation off", () => {
    catalog.learn("r", {
      name: "tuple",
      inputSchema: {
        $schema: "http://json-schema.org/draft-07/schema#",
        type: "object",
        properties: { p: { type: "array", items: [{ type: "number" }, { type: "string" }] } },
      },
    });
    catalog.learn("r", {
      name: "pfx",
      inputSchema: { type: "object", properties: { p: { type: "array", prefixItems: [{ type: "number" }] } } },
    });
    catalog.learn("r", { name: "broken", inputSchema: { type: 5 } });
    catalog.learn("r", { name: "huge", inputSchema: { type: "object", description: "x".repeat(3000) } });
    const f = make();
    expect(f.onMessage!(ex(), callMsg("tuple", { p: [1, "a"] }))).toBeUndefined();
    expect(codeOf(f.onMessage!(ex(), callMsg("tuple", { p: ["a", "a"] })))).toBe("ARGUMENTS_INVALID");
    expect(codeOf(f.onMessage!(ex(), callMsg("pfx", { p: ["a"] })))).toBe("ARGUMENTS_INVALID");
    expect(codeOf(f.onMessage!(ex(), callMsg("broken", {})))).toBe("TOOL_SCHEMA_UNUSABLE");
    expect(codeOf(f.onMessage!(ex(), callMsg("huge", {})))).toBe("TOOL_SCHEMA_UNUSABLE");
    expect(codeOf(f.onMessage!(ex(), callMsg("tuple", [1])))).toBe("ARGUMENTS_INVALID");
    expect(f.onMessage!(ex(), callMsg("never-listed", { any: 1 }))).toBeUndefined();
    expect(codeOf(make({ unknownTools: "refuse" }).onMessage!(ex(), callMsg("never-listed", {})))).toBe("TOOL_SCHEMA_UNKNOWN");
    expect(f.onMessage!(ex("loose"), callMsg("tuple", "not even an object"))).toBeUndefined();
    expect(f.validators.size).toBeLessThanOrEqual(2); // bounded, evicted ones leave ajv too
  });

  it("two backends' schemas may share an $id", () => {
    catalog.learn("r", { name: "id1", inputSchema: { $id: "https://schemas.example/same.json", type: "object", required: ["a"] } });
    catalog.learn("r", { name: "id2", inputSchema: { $id: "https://schemas.example/same.json", type: "object", required: ["b"] } });
    const f = make({ cacheSize: 10 });
    expect(f.onMessage!(ex(), callMsg("id1", { a: 1 }))).toBeUndefined();
    expect(f.onMessage!(ex(), callMsg("id2", { b: 1 }))).toBeUndefined();
    expect(codeOf(f.onMessage!(ex(), callMsg("id2", { a: 1 })))).toBe("ARGUMENTS_INVALID");
  });

  it("bounds depth and size before any schema work", () => {
    expect(exceedsBounds({ a: [1, 2, { b: 3 }] }, 8, 50)).toBeUndefined();
    let deep: unknown = 1;
    for (let i = 0; i < 9; i++) deep = { d: deep };
    expect(exceedsBounds(deep, 8, 50)).toBe("nested deeper than 8 levels");
    expect(exceedsBounds(new Array(60).fill(0), 8, 50)).toBe("more than 50 values");
    expect(codeOf(make().onMessage!(ex(), callMsg("tuple", { p: new Array(60).fill(0) })))).toBe("ARGUMENTS_TOO_COMPLEX");
  });
});

describe("pins filter", () => {
  const list = (tools: unknown[]): RpcMessage => ({
    kind: "response",
    id: 1,
    method: undefined,
    target: undefined,
    arguments: undefined,
    raw: { jsonrpc: "2.0", id: 1, result: { tools, nextCursor: "c" } },
  });
  const req = { kind: "request", id: 1, method: "tools/list" } as RpcMessage;
  const names = (m: RpcMessage | undefined) =>
    ((m?.raw.result ?? {}) as { tools?: Array<{ name: string }> }).tools?.map((t) => t.name) ?? [];

  it("enforce hides and refuses a changed tool, warn serves it, off pins nothing", async () => {
    const store = new MemoryPinStore("g");
    const f = createPinsFilter({ routes: { w: "warn", o: "off" }, store, catalog: new ToolCatalog() });
    const v1 = [tool("one"), { name: "other" }];
    const v2 = [tool("two"), { name: "other" }];
    for (const route of ["e", "w", "o"]) expect(names(await f.onUpstreamMessage!(ex(route), list(v1), req))).toEqual(["deploy", "other"]);
    const hidden = await f.onUpstreamMessage!(ex("e"), list(v2), req);
    expect(names(hidden)).toEqual(["other"]);
    expect((hidden!.raw.result as { nextCursor: string }).nextCursor).toBe("c");
    expect(codeOf(f.onMessage!(ex("e"), callMsg("deploy", {})))).toBe("TOOL_DEFINITION_CHANGED");
    expect(f.onMessage!(ex("e"), callMsg("other", {}))).toBeUndefined();
    expect(names(await f.onUpstreamMessage!(ex("w"), list(v2), req))).toEqual(["deploy", "other"]);
    expect(f.onMessage!(ex("w"), callMsg("deploy", {}))).toBeUndefined();
    expect(store.pending("w", "deploy")).toBeDefined();
    expect(names(await f.onUpstreamMessage!(ex("o"), list(v2), req))).toEqual(["deploy", "other"]);
    expect(store.pinned("o", "deploy")).toBeUndefined();
    await store.approve("e", "deploy", undefined, "op");
    expect(names(await f.onUpstreamMessage!(ex("e"), list(v2), req))).toEqual(["deploy", "other"]);
    expect(f.onMessage!(ex("e"), callMsg("deploy", {}))).toBeUndefined();
    // A named tool whose definition cannot be hashed at all is neither served nor callable in enforce.
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const odd = [{ name: "odd", inputSchema: { type: "object", default: deep } }, { name: "other" }];
    expect(names(await f.onUpstreamMessage!(ex("e"), list(odd), req))).toEqual(["other"]);
    expect(codeOf(f.onMessage!(ex("e"), callMsg("odd", {})))).toBe("TOOL_DEFINITION_CHANGED");
    // Validation falls back to the pin when nothing was listed in this process.
    const fresh = createPinsFilter({ routes: {}, store, catalog: new ToolCatalog() });
    expect(fresh.lookup("e", "deploy")?.definition.description).toBe("two");
  });
});

describe("client capabilities", () => {
  const init = (capabilities: unknown) =>
    ({ kind: "request", id: 1, method: "initialize", raw: { params: { capabilities } } }) as unknown as RpcMessage;
  it("form elicitation: {} (2025-06-18) or {form} (2025-11-25); url-only or absent is not", () => {
    expect(declaresFormElicitation(init({ elicitation: {} }))).toBe(true);
    expect(declaresFormElicitation(init({ elicitation: { form: {}, url: {} } }))).toBe(true);
    expect(declaresFormElicitation(init({ elicitation: { url: {} } }))).toBe(false);
    expect(declaresFormElicitation(init({ sampling: {} }))).toBe(false);
    expect(declaresFormElicitation(undefined)).toBe(false);
  });
});
