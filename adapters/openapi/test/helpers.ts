// Test helpers for the OpenAPI adapter: the cached fixtures (GitHub's description, Prism), a Prism mock
// server on a loopback port, a loopback API that records every request, and an SDK client over memory.

import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { OpenApiServer } from "../src/server.ts";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, "../../..");
export const examples = join(repoRoot, "node_modules/@readme/oas-examples");
const fixtures = join(repoRoot, ".cache/openapi-fixtures");
export const githubDescription = join(fixtures, "github-23.0.2/api.github.com.json");
const prismBin = join(fixtures, "prism-5.16.0/node_modules/.bin/prism");

/** Installs the cached test fixtures if this machine has not got them yet (idempotent). */
export function ensureFixtures(): void {
  if (existsSync(githubDescription) && existsSync(prismBin)) return;
  execFileSync("bash", [join(here, "../scripts/install-test-fixtures.sh")], { stdio: "inherit" });
}

export interface Prism {
  readonly url: string;
  close(): Promise<void>;
}

/** Prism's mock server for a document on 127.0.0.1 (port 0: Prism prints the one it got). */
export async function startPrism(spec: string): Promise<Prism> {
  ensureFixtures();
  const child = spawn(process.execPath, [prismBin, "mock", "-h", "127.0.0.1", "-p", "0", spec], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`prism did not start in 60 s:\n${out.slice(-2000)}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Prism is listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`prism exited (${code}):\n${out.slice(-2000)}`));
    });
  });
  // Keep draining its log so the pipe never blocks it.
  child.stdout.resume();
  child.stderr.resume();
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

export interface RecordingApi {
  readonly url: string;
  readonly requests: Recorded[];
  /** What the next requests get: a function of the request (default 200 `{}`). */
  respond: (r: Recorded, res: ServerResponse) => void;
  close(): Promise<void>;
}

/** A loopback HTTP API that records every request it gets. */
export async function startRecordingApi(): Promise<RecordingApi> {
  const api: RecordingApi = {
    url: "",
    requests: [],
    respond: (_r, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"),
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: Recorded = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      api.requests.push(r);
      api.respond(r, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(api, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

/** An SDK client connected to the adapter over an in-memory transport pair. */
export async function memoryClient(server: OpenApiServer): Promise<Client> {
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.createMcpServer().connect(a);
  const client = new Client({ name: "test", version: "1.0.0" });
  await client.connect(b);
  return client;
}
