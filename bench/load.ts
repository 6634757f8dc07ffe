// The load generator process: autocannon firing `tools/call echo` with a 1 KiB argument, every answer checked.
// Started by run.ts (pinned with taskset to its own core); `node bench/load.ts '<LoadSpec JSON>'` → one JSON line on stdout.

import { createHistogram } from "node:perf_hooks";
import autocannon from "autocannon";
import { runPaced } from "./paced.ts";

export interface LoadSpec {
  url: string;
  /** Sent on every request (content-type, accept, protocol version, session id). */
  headers: Record<string, string>;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** Length of the echo argument in bytes (ASCII). */
  textBytes: number;
  /**
   * Offered load in calls/s. Unset: closed loop (autocannon, each connection sends as soon as its previous answer is in).
   * Set: open loop at this fixed rate over `connections` keep-alive connections (see `pacedPhase`).
   */
  rate?: number | undefined;
  /** Write "bench:measuring" on stderr when the measured phase starts (full.ts reads the target's CPU time there). */
  markMeasure?: boolean | undefined;
}

export interface LoadResult {
  connections: number;
  rate?: number | undefined;
  seconds: number;
  /** Responses that passed every check. */
  ok: number;
  /** Non-200, wrong or unparsable body, wrong id, socket errors and timeouts. */
  errors: number;
  errorSamples: string[];
  /** Open loop: the target could not keep up with the offered rate (run cut short). */
  saturated?: boolean;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/** Deterministic printable payload; every request carries the same text, so a mixed-up answer is still caught by the id check. */
export function echoText(bytes: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let s = "";
  for (let i = 0; i < bytes; i++) s += alphabet[i % alphabet.length];
  return s;
}

let lastText = "";
let lastTail = "";
/** The request body of call `id`; the escaped argument is computed once (the generator's CPU is not what is measured). */
export function callBody(id: number, text: string): string {
  if (text !== lastText) {
    lastText = text;
    lastTail = `,"method":"tools/call","params":{"name":"echo","arguments":{"text":${JSON.stringify(text)}}}}`;
  }
  return `{"jsonrpc":"2.0","id":${id}${lastTail}`;
}

interface RpcReply {
  jsonrpc?: unknown;
  id?: unknown;
  result?: { content?: Array<{ type?: unknown; text?: unknown }>; isError?: unknown };
}

/** The JSON-RPC message with this id in a body that is either one JSON object or an SSE stream (the gateway may answer either way). */
function findReply(body: string, id: number): RpcReply | undefined {
  if (body.charCodeAt(0) === 123 /* { */) return JSON.parse(body) as RpcReply;
  // text/event-stream: events separated by a blank line; data lines of one event joined with "\n" (WHATWG HTML §9.2.6).
  for (const event of body.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(l.charCodeAt(5) === 32 ? 6 : 5))
      .join("\n");
    if (!data) continue;
    const m = JSON.parse(data) as RpcReply;
    if (m.id === id) return m;
  }
  return undefined;
}

/** Why an answer is wrong, or undefined when it is exactly the echo we asked for. */
export function checkReply(status: number, body: string, id: number, text: string): string | undefined {
  if (status !== 200) return `status ${status}: ${body.slice(0, 200)}`;
  let m: RpcReply | undefined;
  try {
    m = findReply(body, id);
  } catch {
    return `unparsable body: ${body.slice(0, 200)}`;
  }
  if (!m) return `no reply with id ${id}: ${body.slice(0, 200)}`;
  if (m.jsonrpc !== "2.0" || m.id !== id) return `wrong envelope (want id ${id}): ${body.slice(0, 200)}`;
  const c = m.result?.content?.[0];
  if (m.result?.isError || c?.type !== "text" || c.text !== text) return `wrong result: ${body.slice(0, 200)}`;
  return undefined;
}

interface Phase {
  ok: number;
  bad: number;
  samples: string[];
  /** Open loop only: the target fell more than a second behind the offered rate, so the run was cut short. */
  saturated?: boolean;
}

async function phase(spec: LoadSpec, seconds: number, text: string, counters: Phase, hist?: ReturnType<typeof createHistogram>) {
  // Ids unique across the whole run: JSON-RPC ids must be unique per session, and all connections share one session.
  let seq = 0;
  const url = new URL(spec.url);
  const inst = autocannon({
    url: url.origin,
    connections: spec.connections,
    duration: seconds,
    sampleInt: 100,
    timeout: 10,
    requests: [
      {
        method: "POST",
        path: url.pathname + url.search,
        headers: spec.headers,
        setupRequest(req, context) {
          const id = ++seq;
          context.id = id;
          req.body = callBody(id, text);
          return req;
        },
        onResponse(status, body, context) {
          const why = checkReply(status, body, context.id as number, text);
          if (why === undefined) counters.ok++;
          else {
            counters.bad++;
            if (counters.samples.length < 5) counters.samples.push(why);
          }
        },
      },
    ],
  });
  if (hist) inst.on("response", (_c, _s, _b, ms) => hist.record(Math.max(1, Math.round(ms * 1000))));
  inst.on("reqError", (e) => {
    if (counters.samples.length < 5) counters.samples.push(`request error: ${e.message}`);
  });
  const t0 = process.hrtime.bigint();
  const r = await inst;
  const seconds_ = Number(process.hrtime.bigint() - t0) / 1e9;
  return { result: r, seconds: seconds_ };
}

/** Open loop at a fixed rate (see paced.ts); latency counted from each call's due time, so queueing is charged to the target. */
async function pacedPhase(
  spec: LoadSpec,
  seconds: number,
  rate: number,
  text: string,
  counters: Phase,
  hist?: ReturnType<typeof createHistogram>,
) {
  const note = (why: string) => {
    counters.bad++;
    if (counters.samples.length < 5) counters.samples.push(why);
  };
  const out = await runPaced({
    url: spec.url,
    headers: spec.headers,
    connections: spec.connections,
    rate,
    seconds,
    body: (id) => callBody(id, text),
    onReply(status, body, id, latencyUs) {
      hist?.record(Math.max(1, latencyUs));
      const why = checkReply(status, body, id, text);
      if (why === undefined) counters.ok++;
      else note(why);
    },
    onError: note,
  });
  if (out.saturated) counters.saturated = true;
  return { result: { errors: 0 }, seconds: out.seconds };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const text = echoText(spec.textBytes);
  const run = (seconds: number, counters: Phase, hist?: ReturnType<typeof createHistogram>) =>
    spec.rate ? pacedPhase(spec, seconds, spec.rate, text, counters, hist) : phase(spec, seconds, text, counters, hist);
  if (spec.warmupSeconds > 0) await run(spec.warmupSeconds, { ok: 0, bad: 0, samples: [] });
  const counters: Phase = { ok: 0, bad: 0, samples: [] };
  if (spec.markMeasure) process.stderr.write("bench:measuring\n");
  // Microsecond resolution: autocannon's own latency histogram keeps whole milliseconds, too coarse for a 0.15 ms budget.
  const hist = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  const { result, seconds } = await run(spec.durationSeconds, counters, hist);
  const us = (p: number) => (hist.count === 0 ? 0 : hist.percentile(p) / 1000);
  return {
    connections: spec.connections,
    rate: spec.rate,
    seconds,
    ok: counters.ok,
    // result.errors counts autocannon's socket errors and timeouts; non-200, bad bodies and (paced) request errors are counted above.
    errors: counters.bad + result.errors,
    errorSamples: counters.samples,
    saturated: counters.saturated,
    rps: counters.ok / seconds,
    latencyMs: {
      p50: us(50),
      p90: us(90),
      p99: us(99),
      max: hist.count === 0 ? 0 : hist.max / 1000,
      mean: hist.count === 0 ? 0 : hist.mean / 1000,
    },
  };
}

if (import.meta.main) {
  const spec = JSON.parse(process.argv[2] ?? "") as LoadSpec;
  const res = await runLoad(spec);
  process.stdout.write(`${JSON.stringify(res)}\n`);
}
