// otel/collector.yaml stays loadable: valid YAML, every pipeline names components that are defined,
// and the gateway's OTLP/HTTP port is open. collector-run.test.ts validates and runs it in a real collector.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

describe("collector.yaml", () => {
  const doc = parse(readFileSync(new URL("../collector.yaml", import.meta.url), "utf8")) as Record<string, Record<string, unknown>> & {
    service: { extensions: string[]; pipelines: Record<string, Record<"receivers" | "processors" | "exporters", string[]>> };
  };
  it("every pipeline component and extension is defined", () => {
    for (const [name, p] of Object.entries(doc.service.pipelines)) {
      for (const kind of ["receivers", "processors", "exporters"] as const) {
        for (const c of p[kind] ?? []) expect(doc[kind], `${name}: ${kind} ${c}`).toHaveProperty([c]);
      }
    }
    for (const e of doc.service.extensions) expect(doc.extensions).toHaveProperty([e]);
  });
  it("OTLP in; Jaeger, Elasticsearch and Prometheus out; the audit file to Elasticsearch", () => {
    const p = doc.service.pipelines;
    expect(p.traces!.receivers).toContain("otlp");
    expect(p.traces!.exporters).toEqual(expect.arrayContaining(["otlp_grpc/jaeger", "elasticsearch/traces"]));
    expect(p.traces!.processors).toContain("redaction");
    expect(p.metrics!.exporters).toContain("prometheus");
    expect(p["logs/audit"]!.exporters).toContain("elasticsearch/audit");
  });
});
