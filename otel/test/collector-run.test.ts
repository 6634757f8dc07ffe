// otel/collector.yaml run by a real OpenTelemetry Collector (otelcol-mcp, built from the collector-contrib
// release the file is written for by otel/scripts/install-otelcol.sh): `validate` accepts it, and with the
// gateway's telemetry and audit file feeding it, spans reach Elasticsearch in the trace index (with a
// foreign service's bearer token masked by the redaction processor), metrics reach the Prometheus
// exporter, and audit records reach the audit index as the very JSON the gateway wrote. Elasticsearch is
// a loopback stand-in speaking its bulk API (no Elasticsearch here); the Jaeger endpoint is left dead
// (its exporter retries in the background and must not hold up the others).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTelemetry, type Telemetry } from "../../gateway/src/otel/index.ts";
import { freePort } from "../../policies/test/opa.ts";
import { findCollector } from "./helpers/collector.ts";
import { BEARER, realisticSession } from "./helpers/synthetic.ts";

const CONFIG = new URL("../collector.yaml", import.meta.url).pathname;

interface FakeElasticsearch {
  url: string;
  /** Indexed documents by index name. */
  docs: Map<string, Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

/** Just enough of Elasticsearch's HTTP API for the exporter: the product check on GET / and POST /_bulk. */
async function startFakeElasticsearch(): Promise<FakeElasticsearch> {
  const docs = new Map<string, Array<Record<string, unknown>>>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = { "content-type": "application/json", "x-elastic-product": "Elasticsearch" };
      let raw = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
      if (req.method === "POST" && req.url?.startsWith("/_bulk")) {
        const lines = raw.toString("utf8").split("\n").filter(Boolean);
        const items: unknown[] = [];
        for (let i = 0; i + 1 < lines.length; i += 2) {
          const action = JSON.parse(lines[i]!) as Record<string, { _index?: string }>;
          const [op, meta] = Object.entries(action)[0]!;
          const index = meta._index ?? "?";
          const list = docs.get(index) ?? [];
          list.push(JSON.parse(lines[i + 1]!) as Record<string, unknown>);
          docs.set(index, list);
          items.push({ [op]: { _index: index, status: 201, result: "created" } });
        }
        res.writeHead(200, headers).end(JSON.stringify({ took: 1, errors: false, items }));
        return;
      }
      // GET / (version and product check) and anything else the exporter may ask.
      res
        .writeHead(200, headers)
        .end(JSON.stringify({ version: { number: "8.15.0", build_flavor: "default" }, tagline: "You Know, for Search" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    docs,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("collector.yaml in a real collector", () => {
  const bin = findCollector();
  const dir = mkdtempSync(join(tmpdir(), "otelcol-"));
  const auditLog = join(dir, "audit.log");
  let es: FakeElasticsearch;
  let collector: ChildProcess | undefined;
  let output = "";
  let env: NodeJS.ProcessEnv;
  let ports: { http: number; grpc: number; health: number; prom: number };

  beforeAll(async () => {
    es = await startFakeElasticsearch();
    ports = { http: await freePort(), grpc: await freePort(), health: await freePort(), prom: await freePort() };
    writeFileSync(auditLog, "");
    env = {
      ...process.env,
      COLLECTOR_STORAGE_DIR: join(dir, "storage"),
      MCP_AUDIT_LOG: auditLog,
      COLLECTOR_OTLP_HTTP_LISTEN: `127.0.0.1:${ports.http}`,
      COLLECTOR_OTLP_GRPC_LISTEN: `127.0.0.1:${ports.grpc}`,
      COLLECTOR_HEALTH_LISTEN: `127.0.0.1:${ports.health}`,
      COLLECTOR_PROMETHEUS_LISTEN: `127.0.0.1:${ports.prom}`,
      // Nothing listens there: the Jaeger exporter fails and retries on its own.
      JAEGER_OTLP_ENDPOINT: `127.0.0.1:${await freePort()}`,
      ELASTICSEARCH_URL: es.url,
    };
  });

  afterAll(async () => {
    if (collector && collector.exitCode === null) {
      collector.kill("SIGTERM");
      await new Promise((r) => {
        const t = setTimeout(() => {
          collector?.kill("SIGKILL");
          r(null);
        }, 10_000);
        collector?.once("exit", () => {
          clearTimeout(t);
          r(null);
        });
      });
    }
    await es?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("validate accepts it", () => {
    const out = execFileSync(bin, ["validate", "--config", CONFIG], { env, encoding: "utf8", timeout: 30_000 });
    expect(out.trim()).toBe("");
  });

  it("runs it: spans and audit records reach Elasticsearch, metrics reach the Prometheus exporter", async () => {
    collector = spawn(
      bin,
      [
        "--config",
        CONFIG,
        // Test timing only: the exporters' batches flush within a second instead of ten, and the
        // collector's own metrics endpoint (a fixed port) stays closed.
        "--set=exporters::elasticsearch/traces::sending_queue::batch::flush_timeout=500ms",
        "--set=exporters::elasticsearch/audit::sending_queue::batch::flush_timeout=500ms",
        "--set=processors::batch::timeout=200ms",
        "--set=service::telemetry::metrics::level=none",
      ],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    collector.stdout!.on("data", (c: Buffer) => (output += c));
    collector.stderr!.on("data", (c: Buffer) => (output += c));
    await until("collector health", async () => {
      if (collector!.exitCode !== null) throw new Error(`collector exited ${collector!.exitCode}: ${output}`);
      try {
        return (await fetch(`http://127.0.0.1:${ports.health}/`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    });

    // The gateway's telemetry exports to the collector's OTLP/HTTP receiver.
    const t: Telemetry = startTelemetry({
      serviceName: "mcp-gateway-collector-test",
      otlp: { endpoint: `http://127.0.0.1:${ports.http}`, metricsIntervalMs: 1000 },
      batch: { scheduledDelayMillis: 50 },
    });
    try {
      realisticSession();
      await t.forceFlush();
    } finally {
      await t.shutdown();
    }
    // A backend in the same trace that is less careful: its span carries a bearer token.
    const foreign = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "careless-backend" } }] },
          scopeSpans: [
            {
              scope: { name: "x" },
              spans: [
                {
                  traceId: "5b8efff798038103d269b633813fc60c",
                  spanId: "eee19b7ec3c1b174",
                  name: "careless",
                  kind: 2,
                  startTimeUnixNano: String(Date.now() * 1e6),
                  endTimeUnixNano: String(Date.now() * 1e6 + 1000),
                  attributes: [{ key: "http.request.header.authorization", value: { stringValue: `Bearer ${BEARER}` } }],
                },
              ],
            },
          ],
        },
      ],
    };
    const r = await fetch(`http://127.0.0.1:${ports.http}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(foreign),
    });
    expect(r.status).toBe(200);

    // Audit records as the gateway's file sink writes them: one ECS JSON object per line.
    const records = [
      { "@timestamp": new Date().toISOString(), "event.action": "tools/call", "user.id": "alice", "mcp_gateway.decision": "allow" },
      { "@timestamp": new Date().toISOString(), "event.action": "tools/call", "user.id": "bob", "mcp_gateway.decision": "deny" },
    ];
    for (const rec of records) appendFileSync(auditLog, `${JSON.stringify(rec)}\n`);

    const spans = await until("spans in Elasticsearch", () => {
      const d = es.docs.get("mcp-gateway-traces") ?? [];
      return d.some((x) => x.name === "careless") && d.some((x) => x.name === "tools/call create_incident") ? d : undefined;
    });
    const call = spans.find((x) => x.name === "tools/call create_incident")! as { attributes?: Record<string, unknown> };
    expect(call.attributes?.["mcp.method.name"]).toBe("tools/call");
    expect(call.attributes?.["gen_ai.tool.name"]).toBe("create_incident");
    const careless = JSON.stringify(spans.find((x) => x.name === "careless"));
    expect(careless).not.toContain(BEARER);
    expect(careless).toContain("****");
    expect(JSON.stringify(spans)).not.toContain(BEARER);

    const audit = await until("audit records in Elasticsearch", () => {
      const d = es.docs.get("mcp-gateway-audit") ?? [];
      return d.length >= records.length ? d : undefined;
    });
    // bodymap: the document is the record itself, field for field.
    expect(audit).toEqual(records);

    const metrics = await until("metrics on the collector's Prometheus exporter", async () => {
      const text = await (await fetch(`http://127.0.0.1:${ports.prom}/metrics`)).text();
      return /mcp_server_operation_duration_seconds_bucket|mcp_server_operation_duration_bucket/.test(text) ? text : undefined;
    });
    expect(metrics).toMatch(/service_name="mcp-gateway-collector-test"/);
    expect(metrics).not.toContain(BEARER);
    // The file is written for this release: no deprecated names or options.
    expect(output).not.toMatch(/deprecated/i);
  }, 60_000);
});
