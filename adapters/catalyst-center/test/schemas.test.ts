// The vendored Catalyst Center schemas: every file compiles (draft-04), routes resolve to the right
// method, and the validators really refuse wrong shapes (so the exchange checks are not vacuous).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiMethods, routeOf, SCHEMA_DIR, validateRequest, validateResponse } from "../src/schemas.ts";

describe("vendored schemas", () => {
  it("index.json lists exactly the method files shipped, and each compiles", () => {
    const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".json") && f !== "index.json");
    const index = JSON.parse(readFileSync(join(SCHEMA_DIR, "index.json"), "utf8")) as Array<{ method: string }>;
    expect(index.map((m) => `${m.method}.json`).sort()).toEqual(files.sort());
    expect(apiMethods()).toHaveLength(files.length);
  });

  it("routes: literal paths win over templated ones; query strings are ignored", () => {
    expect(routeOf("PUT", "/dna/intent/api/v1/template-programmer/template/preview")?.method).toBe("preview_template");
    expect(routeOf("GET", "/dna/intent/api/v1/template-programmer/template/abc")?.method).toBe("get_template_details");
    expect(routeOf("GET", "/dna/intent/api/v1/template-programmer/template/deploy/status/abc")?.method).toBe(
      "get_template_deployment_status",
    );
    expect(routeOf("GET", "/dna/intent/api/v1/network-device?hostname=x")?.method).toBe("get_device_list");
    expect(routeOf("POST", "/dna/intent/api/v2/template-programmer/template/deploy")?.method).toBe("deploy_template_v2");
    expect(routeOf("DELETE", "/dna/intent/api/v1/network-device/x")).toBeUndefined();
  });

  it("validators refuse wrong types and missing required fields", () => {
    expect(validateRequest("POST", "/dna/intent/api/v2/template-programmer/template/deploy", { targetInfo: "x" }).ok).toBe(false);
    expect(validateRequest("POST", "/dna/intent/api/v2/template-programmer/template/deploy", { targetInfo: [{ type: "NOPE" }] }).ok).toBe(
      false,
    );
    expect(
      validateRequest("POST", "/dna/intent/api/v2/template-programmer/template/deploy", {
        templateId: "t",
        targetInfo: [{ id: "d", type: "MANAGED_DEVICE_UUID" }],
      }).ok,
    ).toBe(true);
    expect(validateResponse("GET", "/dna/intent/api/v1/network-device", { response: [{ hostname: "x" }] }).ok).toBe(false);
    expect(validateResponse("GET", "/dna/intent/api/v1/task/x", { response: { isError: "no" } }).ok).toBe(false);
    expect(validateResponse("GET", "/dna/intent/api/v1/template-programmer/template/x", { name: "t" }).errors.join(" ")).toMatch(
      /required/,
    );
  });
});
