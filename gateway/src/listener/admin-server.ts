// The admin listener: /healthz (the process runs), /readyz (a config is loaded, the MCP port accepts, not
// draining), /metrics (Prometheus, when telemetry exports it) and /config (what is loaded, the last reload).

import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AdminConfig } from "../config/schema-admin.ts";

export interface AdminState {
  ready(): boolean;
  /** The current generation's Prometheus handler, if any. */
  metrics(): ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** JSON-serialisable status of the loaded config and the last reload (no secrets). */
  status(): unknown;
}

export interface AdminServer {
  readonly url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(body));
}

function tokenOk(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const h = req.headers.authorization ?? "";
  const given = Buffer.from(h.startsWith("Bearer ") ? h.slice(7) : "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function startAdminServer(cfg: AdminConfig, state: AdminState): Promise<AdminServer> {
  const token = cfg.token?.reveal();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, { error: "method not allowed" });
    if (path === "/healthz") return send(res, 200, { status: "ok" });
    if (path === "/readyz") return state.ready() ? send(res, 200, { status: "ready" }) : send(res, 503, { status: "not ready" });
    if (path !== "/metrics" && path !== "/config") return send(res, 404, { error: "not found" });
    if (!tokenOk(req, token)) {
      res.setHeader("www-authenticate", "Bearer");
      return send(res, 401, { error: "admin token required" });
    }
    if (path === "/config") return send(res, 200, state.status());
    const metrics = state.metrics();
    if (!metrics) return send(res, 404, { error: "metrics are off (telemetry.metrics.prometheus)" });
    return metrics(req, res);
  });
  // Probes and scrapes are short: no keep-alive connection should hold up a shutdown.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
