// Both engines must decide identically: the embedded wasm bundle (compiled) and a real OPA server
// (interpreting the same Rego sources) over the whole input table, decisions and list filters.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpaServer, startOpa } from "../../../policies/test/opa.ts";
import { SidecarEngine } from "../../src/filters/authz/sidecar-engine.ts";
import type { AuthzInput } from "../../src/filters/authz/types.ts";
import { WasmEngine } from "../../src/filters/authz/wasm-engine.ts";
import { CATALYST_ITEMS, fiftyTools, GROUPS, REQUEST, REQUEST_2026, SERVERS, subject, table } from "./inputs.ts";

let opa: OpaServer;
let wasm: WasmEngine;
let sidecar: SidecarEngine;

beforeAll(async () => {
  [opa, wasm] = await Promise.all([startOpa(), WasmEngine.create({ watch: false })]);
  sidecar = new SidecarEngine({ url: opa.url, timeoutMs: 5000 });
});

afterAll(async () => {
  await Promise.all([sidecar?.close(), wasm?.close(), opa?.kill()]);
});

describe("engine parity (wasm bundle vs OPA server)", () => {
  it("gives identical decisions over the input table", async () => {
    const inputs = table();
    expect(inputs.length).toBeGreaterThan(500);
    const pairs = await Promise.all(
      inputs.map(async (input) => [await wasm.decide(input as AuthzInput), await sidecar.decide(input as AuthzInput)] as const),
    );
    let allowed = 0;
    let stepUps = 0;
    for (const [i, [w, s]] of pairs.entries()) {
      expect(w, JSON.stringify(inputs[i])).toEqual(s);
      if (w.allow) allowed++;
      if (w.step_up) stepUps++;
    }
    // The table is not trivially all-deny or all-allow.
    expect(allowed).toBeGreaterThan(50);
    expect(stepUps).toBeGreaterThan(20);
    expect(pairs.length - allowed).toBeGreaterThan(200);
  });

  it("gives identical list filters", async () => {
    for (const groups of GROUPS) {
      for (const amr of [["pwd"], ["mfa"]]) {
        for (const server of SERVERS) {
          for (const [method, request] of [
            ["tools/list", REQUEST],
            ["prompts/list", REQUEST_2026],
            ["tools/call", REQUEST],
          ] as const) {
            const base: AuthzInput = { subject: subject(groups, amr), server, method, request };
            const items = server === "catalyst-center" ? CATALYST_ITEMS : fiftyTools();
            const [w, s] = await Promise.all([wasm.filter(base, items), sidecar.filter(base, items)]);
            expect([...w].sort(), `${groups} ${amr} ${server} ${method}`).toEqual([...s].sort());
          }
        }
      }
    }
    const sd = await wasm.filter(
      { subject: subject(["service-desk"], ["mfa"]), server: "catalyst-center", method: "tools/list", request: REQUEST },
      CATALYST_ITEMS,
    );
    expect([...sd].sort()).toEqual(["get_site", "list_devices"]);
  });
});
