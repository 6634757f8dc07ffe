// clientCache: one client per distinct credential set (reused, so tokens are), the fallback when a request
// brings none, the adapter's own error when there are none at all, and a bounded number of clients.

import { describe, expect, it } from "vitest";
import { clientCache, headerValue } from "../src/index.ts";

type Auth = { user: string };

describe("clientCache", () => {
  it("reuses a client per credential set, falls back, refuses none, stays bounded", () => {
    let made = 0;
    const clients = clientCache<Auth, { n: number; user: string }>({
      max: 2,
      fallback: { user: "env" },
      missing: () => new Error("no credentials"),
      make: (a) => ({ n: ++made, user: a.user }),
    });
    const alice = clients({ user: "alice" });
    expect(clients({ user: "alice" })).toBe(alice);
    expect(clients({ user: "bob" })).not.toBe(alice);
    expect(clients(undefined).user).toBe("env");
    expect(made).toBe(3);
    // max 2: alice (least recently used) was dropped, so she gets a new client.
    expect(clients({ user: "alice" })).not.toBe(alice);

    const strict = clientCache<Auth, object>({ missing: () => new Error("no credentials"), make: () => ({}) });
    expect(() => strict(undefined)).toThrow("no credentials");
  });

  it("headerValue: one non-empty value, else undefined", () => {
    expect(headerValue({ a: "x" }, "a")).toBe("x");
    expect(headerValue({ a: "" }, "a")).toBeUndefined();
    expect(headerValue({ a: ["x", "y"] }, "a")).toBeUndefined();
    expect(headerValue({}, "a")).toBeUndefined();
  });
});
