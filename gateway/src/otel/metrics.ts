// The gateway's metric instruments, declared in one place (Envoy's "counters declared in one list"):
// the four MCP duration histograms of the semantic conventions plus the gateway's own counters.

import type { Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";
import {
  DURATION_BUCKETS,
  M_AUTHZ_DECISIONS,
  M_CLIENT_OPERATION_DURATION,
  M_CLIENT_SESSION_DURATION,
  M_CREDENTIAL_LOOKUPS,
  M_GATEWAY_ERRORS,
  M_SERVER_OPERATION_DURATION,
  M_SERVER_SESSION_DURATION,
  M_SESSIONS_ACTIVE,
  M_UPSTREAM_ERRORS,
} from "./attributes.ts";

export interface Instruments {
  serverOperationDuration: Histogram;
  clientOperationDuration: Histogram;
  serverSessionDuration: Histogram;
  clientSessionDuration: Histogram;
  authzDecisions: Counter;
  upstreamErrors: Counter;
  sessionsActive: UpDownCounter;
  credentialLookups: Counter;
  gatewayErrors: Counter;
}

export function createInstruments(meter: Meter): Instruments {
  const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
  return {
    serverOperationDuration: meter.createHistogram(M_SERVER_OPERATION_DURATION, {
      unit: "s",
      description: "Duration of an MCP request or notification as observed by the gateway, from receipt until the response is sent.",
      advice,
    }),
    clientOperationDuration: meter.createHistogram(M_CLIENT_OPERATION_DURATION, {
      unit: "s",
      description: "Duration of an MCP request or notification the gateway sent to a backend, until the response or ack came back.",
      advice,
    }),
    serverSessionDuration: meter.createHistogram(M_SERVER_SESSION_DURATION, {
      unit: "s",
      description: "Duration of an MCP session as observed by the gateway.",
      advice,
    }),
    clientSessionDuration: meter.createHistogram(M_CLIENT_SESSION_DURATION, {
      unit: "s",
      description: "Duration of the gateway's MCP session with a backend (one per client session it relays).",
      advice,
    }),
    authzDecisions: meter.createCounter(M_AUTHZ_DECISIONS, {
      description: "Authorization decisions by result (allow / deny) and engine.",
    }),
    upstreamErrors: meter.createCounter(M_UPSTREAM_ERRORS, {
      description: "Backend failures by error.type: the gateway's UPSTREAM_* code, or the backend's JSON-RPC error code.",
    }),
    sessionsActive: meter.createUpDownCounter(M_SESSIONS_ACTIVE, {
      description: "MCP sessions opened and not yet closed on this replica.",
    }),
    credentialLookups: meter.createCounter(M_CREDENTIAL_LOOKUPS, {
      description: "Backend credential lookups by cache result (hit / miss) and source.",
    }),
    gatewayErrors: meter.createCounter(M_GATEWAY_ERRORS, {
      description: "Errors the gateway reported on the diagnostics error channel, by code.",
    }),
  };
}
