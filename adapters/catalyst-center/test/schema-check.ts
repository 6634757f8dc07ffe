// Test helper: validate every exchange a Catalyst Center fake logged against the official schemas —
// each request body the adapter sent, and each successful response the fake served.

import { expect } from "vitest";
import type { CatalystFake, Exchange } from "../src/fake/index.ts";
import { routeOf, validateRequest, validateResponse } from "../src/schemas.ts";

/** Checks the exchanges logged (but those `except` names: a test's own deliberately bad requests); returns how many were checked. */
export function expectExchangesValid(fake: CatalystFake, except: (e: Exchange) => boolean = () => false): number {
  const problems: string[] = [];
  const list = fake.exchanges.filter((e) => !except(e));
  for (const e of list) {
    const where = `${e.method} ${e.path} → ${e.status}`;
    if (!routeOf(e.method, e.path)) {
      problems.push(`${where}: no schema covers this method`);
      continue;
    }
    if (e.requestBody !== undefined) {
      const r = validateRequest(e.method, e.path, e.requestBody);
      if (!r.ok) problems.push(`${where}: request ${r.errors.join(", ")}`);
    }
    // Error envelopes are not described by the success schemas.
    if (e.status >= 200 && e.status < 300) {
      const r = validateResponse(e.method, e.path, e.responseBody);
      if (!r.ok) problems.push(`${where}: response ${r.errors.join(", ")}`);
    }
  }
  expect(problems).toEqual([]);
  return list.length;
}
