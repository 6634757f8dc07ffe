// The V8 heap sizes the `mcp-gateway` command runs with unless the operator sizes the heap: `run` re-executes the
// same process (same pid, same arguments) with these flags added. Why these values: docs/design/memory.md.

/**
 * Node 24 lets the young generation grow to 2 × 64 MB on a machine with memory to spare, and the old generation to
 * four times its live size after each full collection. Under load the gateway's short-lived objects (per-request
 * records, span and audit buffers) then keep 200–300 MB resident for a live set below 100 MB. Half that semi-space
 * (32 MiB) and a 1.5× old-generation growth step keep it near the live set at no measurable CPU cost; an 8 MiB
 * semi-space saved another ≈ 40 MB but cost JWT + OPA 40–60 % more CPU per call (calls in flight copied by
 * collections several times as frequent). Once re-executed, the flags are in execArgv and nothing is added again.
 */
export const HEAP_DEFAULTS: readonly string[] = ["--max-semi-space-size=32", "--heap-growing-percent=50"];

/** Flags that size the heap: when the operator gives any of them (command line or NODE_OPTIONS), none is added. */
const SIZING = ["--max-semi-space-size", "--min-semi-space-size", "--max-old-space-size", "--max-heap-size", "--heap-growing-percent"];

const sizes = (flags: string) => SIZING.some((f) => flags.includes(f) || flags.includes(f.replaceAll("-", "_").replace(/^__/, "--")));

/** Whether these CLI arguments start the gateway (not `validate`, `tools`, `policy`, `--help`, `--version`). */
export function startsGateway(argv: readonly string[]): boolean {
  if (argv[0] === "tools" || argv[0] === "policy") return false;
  if (argv.some((a) => a === "-h" || a === "--help" || a === "-v" || a === "--version")) return false;
  const first = argv.find((a, i) => !a.startsWith("-") && !(i > 0 && /^(-c|--config|-w|--workers)$/.test(argv[i - 1]!)));
  return first === undefined || first === "run";
}

/**
 * The node arguments to re-execute with, or undefined to run as is: the heap is sized already, the defaults are
 * turned off (MCP_GATEWAY_HEAP_DEFAULTS=off), this is not a gateway start, or the platform cannot replace a process image.
 */
export function heapDefaultsArgv(
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
  canExec: boolean,
): string[] | undefined {
  if (!canExec || env.MCP_GATEWAY_HEAP_DEFAULTS === "off" || !startsGateway(argv)) return undefined;
  if (sizes(execArgv.join(" ")) || sizes(env.NODE_OPTIONS ?? "")) return undefined;
  return [...HEAP_DEFAULTS, ...execArgv];
}
