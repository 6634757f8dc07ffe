// Binds MCP tasks (2025-11-25 tasks/*) to the principal whose tools/call created them, like sessions:
// nobody else may get, read the result of, cancel, list or hear about a task. Same rule in every era.

import { LRUCache } from "lru-cache";
import type { Exchange, Filter, Principal } from "../../chain/types.ts";
import { errorResponse, type JsonObject, type RpcMessage, toMessage } from "../../codec/jsonrpc.ts";
import { GatewayError } from "../../errors.ts";

/** Methods whose `params.taskId` names one task. */
const TASK_METHODS = new Set(["tasks/get", "tasks/result", "tasks/cancel"]);
const RELATED_TASK = "io.modelcontextprotocol/related-task";

export interface TaskBindingOptions {
  /** Bindings kept in all (least recently used forgotten first; a forgotten task reads "not found"). */
  maxTasks?: number;
  /** Bindings kept per principal (its oldest forgotten first), so one caller cannot evict everyone's. */
  maxTasksPerPrincipal?: number;
  /** How long a binding lives after it was last used (ms). Tasks of the workflows server live 24 h by default. */
  ttlMs?: number;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whose task: issuer and subject, as a session is bound. Without authentication every caller is "anonymous". */
export function ownerOf(p: Principal | undefined): string {
  return p ? `${p.iss}\u0000${p.sub}` : "anonymous";
}

/** The task a message names: params.taskId of tasks/*, or the related-task `_meta` of other messages. */
export function taskIdOf(raw: JsonObject): string | undefined {
  const params = raw.params;
  if (!isObject(params)) return undefined;
  if (typeof params.taskId === "string") return params.taskId;
  const meta = params._meta;
  if (isObject(meta) && isObject(meta[RELATED_TASK]) && typeof meta[RELATED_TASK].taskId === "string") return meta[RELATED_TASK].taskId;
  return undefined;
}

/** The task a tools/call result created (CreateTaskResult), when it is one. */
export function createdTaskIdOf(raw: JsonObject): string | undefined {
  const result = raw.result;
  if (!isObject(result) || !isObject(result.task)) return undefined;
  const id = result.task.taskId;
  return typeof id === "string" ? id : undefined;
}

export class TaskBindings {
  readonly #bindings: LRUCache<string, string>;
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #perOwner: number;

  constructor(o: TaskBindingOptions = {}) {
    this.#perOwner = o.maxTasksPerPrincipal ?? 1000;
    this.#bindings = new LRUCache<string, string>({
      max: o.maxTasks ?? 100_000,
      ttl: o.ttlMs ?? 7 * 24 * 3600_000,
      updateAgeOnGet: true,
      dispose: (owner, key) => {
        const set = this.#byOwner.get(owner);
        set?.delete(key);
        if (set?.size === 0) this.#byOwner.delete(owner);
      },
    });
  }

  static key(server: string, taskId: string): string {
    return `${server}\u0000${taskId}`;
  }

  ownerOf(server: string, taskId: string): string | undefined {
    return this.#bindings.get(TaskBindings.key(server, taskId));
  }

  /** Binds the task to `owner`; false when it already belongs to someone else (the first owner keeps it). */
  bind(server: string, taskId: string, owner: string): boolean {
    const key = TaskBindings.key(server, taskId);
    const current = this.#bindings.get(key);
    if (current !== undefined) return current === owner;
    let set = this.#byOwner.get(owner);
    if (!set) {
      set = new Set();
      this.#byOwner.set(owner, set);
    }
    while (set.size >= this.#perOwner) {
      const oldest = set.values().next().value as string;
      this.#bindings.delete(oldest); // dispose removes it from the set
      if (set.has(oldest)) set.delete(oldest);
    }
    set.add(key);
    this.#bindings.set(key, owner);
    return true;
  }

  get size(): number {
    return this.#bindings.size;
  }
}

function notFound(msg: RpcMessage): RpcMessage {
  return toMessage(errorResponse(msg.id, new GatewayError("TASK_NOT_FOUND").toRpcError()));
}

/**
 * The filter. Stage `session`: a task id, like a session id, means something only with the principal
 * it was bound to, and a foreign id is refused before anything else looks at it (an unknown id and
 * another user's id get the same answer, so ids cannot be probed).
 */
export function createTaskBindingFilter(o: TaskBindingOptions & { bindings?: TaskBindings } = {}): Filter & { bindings: TaskBindings } {
  const bindings = o.bindings ?? new TaskBindings(o);
  const mine = (ex: Exchange, taskId: string) => bindings.ownerOf(ex.server, taskId) === ownerOf(ex.principal);
  return {
    name: "task-binding",
    stage: "session",
    bindings,

    onMessage(ex, msg) {
      if (msg.method === undefined || !TASK_METHODS.has(msg.method) || msg.kind !== "request") return undefined;
      const taskId = taskIdOf(msg.raw);
      if (taskId === undefined || !mine(ex, taskId)) return { error: new GatewayError("TASK_NOT_FOUND") };
      return undefined;
    },

    onUpstreamMessage(ex, msg, request) {
      if (msg.kind === "response") {
        if (request?.method === "tools/call") {
          const created = createdTaskIdOf(msg.raw);
          // A backend handing this caller a task someone else holds (an idempotency key reused across
          // users) must not leak it: the caller gets "not found" and the task stays with its owner.
          if (created !== undefined && !bindings.bind(ex.server, created, ownerOf(ex.principal))) return notFound(msg);
          return msg;
        }
        if (request?.method === "tasks/list") {
          const result = msg.raw.result;
          if (!isObject(result) || !Array.isArray(result.tasks)) return msg;
          const kept = result.tasks.filter((t) => isObject(t) && typeof t.taskId === "string" && mine(ex, t.taskId));
          if (kept.length === result.tasks.length) return msg;
          return { ...msg, raw: { ...msg.raw, result: { ...result, tasks: kept } } };
        }
        return msg;
      }
      // Server→client notifications and requests about a task reach only its owner.
      if (msg.method === "notifications/tasks/status" || msg.method === "notifications/progress" || msg.kind === "request") {
        const taskId = taskIdOf(msg.raw);
        if (taskId !== undefined && !mine(ex, taskId)) return undefined;
      }
      return msg;
    },
  };
}
