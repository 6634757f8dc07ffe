// The embedded engine: the policy compiled by `opa build -t wasm`, evaluated in-process with
// @open-policy-agent/opa-wasm, and hot-reloaded when the bundle file changes (last good kept).

import { existsSync, type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoadedPolicy, loadPolicy } from "@open-policy-agent/opa-wasm";
import { readWasmBundle } from "./bundle.ts";
import {
  type AuthzEngine,
  AuthzEngineError,
  type AuthzInput,
  type AuthzLogger,
  type Decision,
  type FilterItem,
  filterInput,
  stderrLogger,
  toDecision,
  toTargetSet,
} from "./types.ts";

/**
 * The default bundle: the copy the build puts in the package (gateway/dist/policy/), else the one committed
 * in the repository (built by policies/scripts/build.sh) when running from source.
 */
const PACKAGED_BUNDLE = fileURLToPath(new URL("../../policy/bundle.tar.gz", import.meta.url));
export const DEFAULT_BUNDLE_PATH = existsSync(PACKAGED_BUNDLE)
  ? PACKAGED_BUNDLE
  : fileURLToPath(new URL("../../../../policies/bundle/bundle.tar.gz", import.meta.url));

export const DECISION_ENTRYPOINT = "mcp/authz/decision";
export const FILTER_ENTRYPOINT = "mcp/authz/filter";

export interface WasmEngineOptions {
  /** Path of the bundle .tar.gz; default DEFAULT_BUNDLE_PATH. */
  bundlePath?: string;
  /** Reload when the file changes (default true). */
  watch?: boolean;
  /** Coalesce bursts of file events (editors, `mv` over the file) into one reload (ms, default 100). */
  debounceMs?: number;
  logger?: AuthzLogger;
}

interface Loaded {
  readonly policy: LoadedPolicy;
  readonly decisionEp: number;
  readonly filterEp: number;
  readonly revision: string;
  readonly digest: string;
}

async function instantiate(archive: Uint8Array): Promise<Loaded> {
  const bundle = readWasmBundle(archive);
  let policy: LoadedPolicy;
  try {
    policy = await loadPolicy(bundle.wasm);
    policy.setData(bundle.data as object);
  } catch (e) {
    throw new Error(`policy.wasm failed to load: ${errorText(e)}`);
  }
  const eps = policy.entrypoints as Record<string, number>;
  const decisionEp = eps[DECISION_ENTRYPOINT];
  const filterEp = eps[FILTER_ENTRYPOINT];
  if (decisionEp === undefined || filterEp === undefined) {
    throw new Error(`bundle must be built with -e ${DECISION_ENTRYPOINT} -e ${FILTER_ENTRYPOINT}; it has ${Object.keys(eps).join(", ")}`);
  }
  const loaded: Loaded = { policy, decisionEp, filterEp, revision: bundle.revision, digest: bundle.digest };
  // Smoke test: an empty input must give a well-formed (deny) decision, so a bundle whose
  // decision is undefined or misshapen is refused at load rather than denying every request later.
  const smoke = evaluate(loaded, {}, decisionEp);
  const d = toDecision(smoke);
  if (d.allow) throw new Error("policy allows an empty input; refusing a bundle that is not deny-by-default");
  toTargetSet(evaluate(loaded, {}, filterEp));
  return loaded;
}

/** opa-wasm throws strings as well as Errors. */
function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function evaluate(l: Loaded, input: unknown, ep: number): unknown {
  let rs: unknown;
  try {
    rs = l.policy.evaluate(input, ep);
  } catch (e) {
    throw new AuthzEngineError("unavailable", `wasm evaluation failed: ${errorText(e)}`, { cause: e });
  }
  // A result set: [] when the entrypoint is undefined for this input, else [{ result }].
  if (!Array.isArray(rs) || rs.length === 0) return undefined;
  return (rs[0] as { result?: unknown }).result;
}

export class WasmEngine implements AuthzEngine {
  readonly kind = "wasm" as const;
  readonly bundlePath: string;
  #loaded: Loaded;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #again = false;
  readonly #listeners = new Set<(revision: string) => void>();
  readonly #logger: AuthzLogger;
  readonly #debounceMs: number;

  private constructor(bundlePath: string, loaded: Loaded, opts: WasmEngineOptions) {
    this.bundlePath = bundlePath;
    this.#loaded = loaded;
    this.#logger = opts.logger ?? stderrLogger;
    this.#debounceMs = opts.debounceMs ?? 100;
    if (opts.watch ?? true) this.#watch();
  }

  /** Load the bundle; throws when it cannot be loaded, so the gateway refuses to start. */
  static async create(opts: WasmEngineOptions = {}): Promise<WasmEngine> {
    const path = resolve(opts.bundlePath ?? DEFAULT_BUNDLE_PATH);
    let archive: Uint8Array;
    try {
      archive = await readFile(path);
    } catch (e) {
      throw new Error(`authz: cannot read policy bundle ${path}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`);
    }
    let loaded: Loaded;
    try {
      loaded = await instantiate(archive);
    } catch (e) {
      throw new Error(`authz: policy bundle ${path} is not usable: ${errorText(e)}`);
    }
    return new WasmEngine(path, loaded, opts);
  }

  get revision(): string {
    return this.#loaded.revision;
  }

  decide(input: AuthzInput): Promise<Decision> {
    try {
      return Promise.resolve(toDecision(evaluate(this.#loaded, input, this.#loaded.decisionEp)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous form for benchmarks and hot paths that want to avoid a microtask. */
  decideSync(input: AuthzInput): Decision {
    return toDecision(evaluate(this.#loaded, input, this.#loaded.decisionEp));
  }

  filter(base: AuthzInput, items: readonly FilterItem[]): Promise<Set<string>> {
    try {
      return Promise.resolve(toTargetSet(evaluate(this.#loaded, filterInput(base, items), this.#loaded.filterEp)));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  onReload(listener: (revision: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reload now (also what the watcher calls). Resolves true when a new policy is in force. */
  async reload(): Promise<boolean> {
    let archive: Uint8Array;
    try {
      archive = await readFile(this.bundlePath);
    } catch (e) {
      this.#logger.error("authz: policy bundle unreadable; keeping the last good policy", {
        "authz.bundle": this.bundlePath,
        "authz.revision": this.revision,
        "error.message": (e as NodeJS.ErrnoException).code ?? errorText(e),
      });
      return false;
    }
    let loaded: Loaded;
    try {
      loaded = await instantiate(archive);
    } catch (e) {
      this.#logger.error("authz: policy bundle failed to load; keeping the last good policy", {
        "authz.bundle": this.bundlePath,
        "authz.revision": this.revision,
        "error.message": errorText(e),
      });
      return false;
    }
    if (loaded.digest === this.#loaded.digest) return false;
    const previous = this.#loaded.revision;
    this.#loaded = loaded;
    this.#logger.info("authz: policy bundle reloaded", {
      "authz.bundle": this.bundlePath,
      "authz.revision": loaded.revision,
      "authz.previous_revision": previous,
    });
    for (const l of this.#listeners) l(loaded.revision);
    return true;
  }

  #watch(): void {
    const file = basename(this.bundlePath);
    // Watch the directory, not the file: build.sh renames a new file over the old one, which
    // ends a watch on the old inode.
    this.#watcher = watch(dirname(this.bundlePath), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      this.#schedule();
    });
    this.#watcher.on("error", (e) =>
      this.#logger.warn("authz: bundle watcher failed; hot reload is off", { "error.message": errorText(e) }),
    );
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#reloading) {
        this.#again = true;
        return;
      }
      this.#reloading = this.reload()
        .then(() => undefined)
        .finally(() => {
          this.#reloading = undefined;
          if (this.#again) {
            this.#again = false;
            this.#schedule();
          }
        });
    }, this.#debounceMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#reloading;
    this.#listeners.clear();
  }
}
