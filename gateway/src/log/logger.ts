// The gateway's structured logger: one JSON object per line with Elastic Common Schema field names
// (ECS 8.x, ecs-logging spec), so Filebeat/Logstash → Elasticsearch needs no mapping. Never prints secrets.

import type { Writable } from "node:stream";
import { errorFields, redactingReplacer } from "./redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
/** ECS field names, dotted (e.g. "event.action", "url.path", "trace.id"). */
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields | Error): void;
  /** A logger that adds `fields` to every line (e.g. { "event.dataset": "mcp_gateway.upstream" }). */
  child(fields: LogFields): Logger;
  isLevelEnabled(level: Exclude<LogLevel, "silent">): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go. Default: process.stderr (stdout is left to the audit sink and to stdio protocols). */
  stream?: Pick<Writable, "write">;
  /** service.name on every line. */
  serviceName?: string;
  /** Extra fields on every line. */
  fields?: LogFields;
  /** Clock for @timestamp (tests). */
  now?: () => number;
}

export const ECS_VERSION = "8.11.0";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

class JsonLogger implements Logger {
  readonly #min: number;
  readonly #stream: Pick<Writable, "write">;
  /** The constant part of every line, pre-serialised once: `,"ecs.version":…,"service.name":…`. */
  readonly #tail: string;
  readonly #now: () => number;
  readonly #opts: LoggerOptions;

  constructor(opts: LoggerOptions, tail?: string) {
    this.#opts = opts;
    this.#min = RANK[opts.level ?? "info"];
    this.#stream = opts.stream ?? process.stderr;
    this.#now = opts.now ?? Date.now;
    this.#tail = tail ?? serialiseFields({ "ecs.version": ECS_VERSION, "service.name": opts.serviceName ?? "mcp-gateway", ...opts.fields });
  }

  isLevelEnabled(level: Exclude<LogLevel, "silent">): boolean {
    return RANK[level] >= this.#min;
  }

  #emit(level: Exclude<LogLevel, "silent">, message: string, fields: LogFields | Error | undefined): void {
    if (RANK[level] < this.#min) return;
    let extra = "";
    if (fields instanceof Error) {
      extra = serialiseFields(errorAsEcs(fields));
    } else if (fields) {
      const err = fields.error;
      if (err instanceof Error) {
        const { error: _omit, ...rest } = fields;
        extra = serialiseFields({ ...rest, ...errorAsEcs(err) });
      } else {
        extra = serialiseFields(fields);
      }
    }
    const head = `{"@timestamp":${JSON.stringify(new Date(this.#now()).toISOString())},"log.level":"${level}","message":${JSON.stringify(message, redactingReplacer)}`;
    this.#stream.write(`${head}${this.#tail}${extra}}\n`);
  }

  debug(message: string, fields?: LogFields): void {
    this.#emit("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#emit("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#emit("warn", message, fields);
  }
  error(message: string, fields?: LogFields | Error): void {
    this.#emit("error", message, fields);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.#opts, this.#tail + serialiseFields(fields));
  }
}

/** `,"k":v,…` for the given fields, redacted; undefined values are skipped; reserved keys cannot be overridden. */
function serialiseFields(fields: LogFields): string {
  let out = "";
  for (const k of Object.keys(fields)) {
    if (k === "@timestamp" || k === "log.level" || k === "message") continue;
    const v = fields[k];
    if (v === undefined || typeof v === "function") continue;
    // A one-key wrapper makes the replacer see the real key, so secret-named fields are caught too.
    const s = JSON.stringify({ [k]: v }, redactingReplacer);
    out += `,${s.slice(1, -1)}`;
  }
  return out;
}

/** ECS error.* fields (error.type, error.message, error.code, error.stack_trace). Messages are token-scrubbed. */
export function errorAsEcs(e: Error): LogFields {
  const f = errorFields(e);
  const out: LogFields = { "error.type": f.type, "error.message": f.message };
  if (f.code !== undefined) out["error.code"] = String(f.code);
  if (e.stack) out["error.stack_trace"] = e.stack;
  return out;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return new JsonLogger(opts);
}

/** A logger that drops everything (tests, embedding). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
  isLevelEnabled() {
    return false;
  },
};
