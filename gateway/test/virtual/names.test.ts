// Virtual server naming: prefixed names within 64 characters, deterministic and collision-free shortening,
// and the way back from an exposed name to its member; and the config's refusals of bad virtualServers blocks.

import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { exposedName, MAX_NAME, NameMap } from "../../src/virtual/names.ts";
import { TEST_KEY } from "../helpers.ts";

describe("exposed names", () => {
  it("prefix the member's name with the separator when it fits", () => {
    expect(exposedName("servicenow", "__", "get_incident")).toBe("servicenow__get_incident");
    expect(exposedName("a", ".", "b")).toBe("a.b");
  });

  it("shorten deterministically to 64 characters with a hash of the whole name", () => {
    const long = "x".repeat(70);
    const a = exposedName("catalyst-center", "__", long);
    expect(a.length).toBe(MAX_NAME);
    expect(a).toBe(exposedName("catalyst-center", "__", long));
    expect(a.startsWith("catalyst-center__xxx")).toBe(true);
    expect(a).toMatch(/_[0-9a-f]{8}$/);
    // Two names sharing their first 64 characters still differ.
    expect(exposedName("m", "__", `${long}1`)).not.toBe(exposedName("m", "__", `${long}2`));
  });

  it("lengthen the hash only when the shortened name is already taken", () => {
    const long = "y".repeat(80);
    const first = exposedName("m", "__", long);
    const second = exposedName("m", "__", long, (n) => n === first);
    expect(second).not.toBe(first);
    expect(second.length).toBe(MAX_NAME);
    expect(second).toMatch(/_[0-9a-f]{12}$/);
  });

  it("map exposed names back, also for names not listed yet unless they were shortened", () => {
    const m = new NameMap(["ops", "net"], "__");
    const long = "z".repeat(70);
    m.replace("net", ["ping", long]);
    expect(m.origin("net__ping")).toEqual({ member: "net", name: "ping" });
    const short = m.exposed("net", long)!;
    expect(short.length).toBe(MAX_NAME);
    expect(m.origin(short)).toEqual({ member: "net", name: long });
    expect(m.origin("ops__not_listed")).toEqual({ member: "ops", name: "not_listed" });
    expect(m.origin("other__x")).toBeUndefined();
    expect(m.origin("ops__")).toBeUndefined();
    // A fresh list replaces the member's names.
    m.replace("net", ["pong"]);
    expect(m.exposed("net", "ping")).toBeUndefined();
    // Once unlisted, a shortened name is read literally (a tool of that very name), never as the long one.
    expect(m.origin(short)).toEqual({ member: "net", name: short.slice("net__".length) });
    // Same lists, same names (member order, then name order): stable across sessions.
    const again = new NameMap(["ops", "net"], "__");
    again.replace("net", [long, "ping"]);
    expect(again.exposed("net", long)).toBe(short);
  });
});

describe("virtualServers config", () => {
  const base = { sessions: { key: TEST_KEY }, servers: { a: { url: "http://127.0.0.1:9/mcp" }, b__x: { url: "http://127.0.0.1:9/mcp" } } };
  const issues = (virtualServers: unknown): string => {
    try {
      parseConfig({ ...base, virtualServers }, ".");
      return "";
    } catch (e) {
      return `${(e as Error).message}\n${JSON.stringify((e as { issues?: unknown }).issues ?? "")}`;
    }
  };

  it("accepts a valid block with its defaults", () => {
    const c = parseConfig({ ...base, virtualServers: { ops: { servers: ["a"] } } }, ".");
    expect(c.virtualServers.ops).toMatchObject({ servers: ["a"], separator: "__", maxSessions: 1000, idleSeconds: 3600 });
  });

  it("refuses an unknown member, a member holding the separator, a duplicate, a name clash and a bad separator", () => {
    expect(issues({ ops: { servers: ["nope"] } })).toContain('no server \\"nope\\" is configured');
    expect(issues({ ops: { servers: ["b__x"] } })).toContain("contains the separator");
    expect(issues({ ops: { servers: ["a", "a"] } })).toContain("listed twice");
    expect(issues({ a: { servers: ["a"] } })).toContain("also a server");
    expect(issues({ ops: { servers: ["a"], separator: "/" } })).toContain("1-4 of");
    expect(issues({ ops: { servers: [] } })).not.toBe("");
  });
});
