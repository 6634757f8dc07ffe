// A tiny OTLP/HTTP receiver on 127.0.0.1 for tests: accepts the JSON encoding the JS exporters send
// (OTLP spec "OTLP/HTTP", JSON Protobuf Encoding) and keeps every span, metric and raw body it got.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type AnyValue = {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
};
export interface KeyValue {
  key: string;
  value: AnyValue;
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: KeyValue[];
  status?: { code?: number; message?: string };
  links?: Array<{ traceId: string; spanId: string }>;
  events?: Array<{ name: string; attributes?: KeyValue[] }>;
}

export const KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export const STATUS_ERROR = 2;

export function attr(s: { attributes?: KeyValue[] }, key: string): string | number | boolean | undefined {
  const kv = s.attributes?.find((a) => a.key === key);
  if (!kv) return undefined;
  const v = kv.value;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.doubleValue !== undefined) return v.doubleValue;
  return undefined;
}

export interface Receiver {
  url: string;
  spans: OtlpSpan[];
  resources: KeyValue[][];
  /** Every body received, as text (for secret scans). */
  bodies: string[];
  metricBodies: string[];
  /** "<path> <content-type>" of every request, JSON or not (protocol selection tests). */
  requests: string[];
  /** The value of the `x-otlp-token` request header of every request (header configuration tests). */
  tokens: Array<string | undefined>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const spans: OtlpSpan[] = [];
  const resources: KeyValue[][] = [];
  const bodies: string[] = [];
  const metricBodies: string[] = [];
  const requests: string[] = [];
  const tokens: Array<string | undefined> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      requests.push(`${req.url} ${req.headers["content-type"] ?? ""}`);
      const tok = req.headers["x-otlp-token"];
      tokens.push(Array.isArray(tok) ? tok.join(",") : tok);
      if (!(req.headers["content-type"] ?? "").includes("json")) {
        res.writeHead(415).end();
        return;
      }
      bodies.push(text);
      if (req.url === "/v1/traces") {
        const body = JSON.parse(text) as {
          resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
        };
        for (const rs of body.resourceSpans ?? []) {
          resources.push(rs.resource?.attributes ?? []);
          for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
        }
      } else if (req.url === "/v1/metrics") {
        metricBodies.push(text);
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    resources,
    bodies,
    metricBodies,
    requests,
    tokens,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
