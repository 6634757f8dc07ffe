// The governance subcommands of `mcp-gateway`: `tools list|diff|approve` on the pin store named by a
// config file, and `policy replay` of recorded audit decisions against another policy bundle.

import { readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { formatIssues } from "./config/load.ts";
import { builtinResolvers, resolveReferences } from "./config/references.ts";
import { type GovernanceConfig, governanceSchema } from "./config/schema-governance.ts";
import { definitionDiff } from "./filters/pins/diff.ts";
import { openPinStore } from "./filters/pins/from-config.ts";
import { PinStateError } from "./filters/pins/state.ts";
import type { PinStore } from "./filters/pins/store.ts";

export const GOVERNANCE_HELP = `Tool governance (docs/governance.md):
  mcp-gateway tools list    --config <file.yaml> [--route R]             pinned definitions and pending changes
  mcp-gateway tools diff    --config <file.yaml> [--route R] [--tool T]  what changed in each pending definition
  mcp-gateway tools approve --config <file.yaml> --route R --tool T [--hash H] [--by NAME]
                                                                         accept a pending definition (it becomes the pin)
  mcp-gateway policy replay --audit <audit.jsonl> --bundle <bundle.tar.gz> [--json] [--show-unchanged]
                                                                         re-decide recorded calls with another policy
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** The `governance` block of a config file, without resolving the rest (an operator's shell may lack the gateway's secrets). */
export function readGovernance(file: string): GovernanceConfig {
  let tree: unknown;
  try {
    tree = parseYaml(readFileSync(file, "utf8"));
  } catch (e) {
    throw new PinStateError(`${file}: ${(e as Error).message}`);
  }
  let g = typeof tree === "object" && tree !== null ? (tree as Record<string, unknown>).governance : undefined;
  try {
    // ${env:…} and ${file:…} in the governance block (a Redis URL with a password) resolve as for the gateway.
    g = resolveReferences(g ?? {}, builtinResolvers(dirname(resolve(file)), process.env));
  } catch (e) {
    throw new PinStateError(`${file}: governance: ${(e as Error).message}`);
  }
  const r = governanceSchema.safeParse(g);
  if (!r.success) throw new PinStateError(`${file}: governance: ${formatIssues(r.error).join("; ")}`);
  return r.data;
}

async function withStore(file: string, io: Io, fn: (s: PinStore) => Promise<number>): Promise<number> {
  const g = readGovernance(file);
  if (g.pins.store.type === "memory") {
    io.err(
      `${file}: pins are kept in the gateway's memory (governance.pins.store); configure a file or Redis store to review and approve changes\n`,
    );
    return 1;
  }
  const store = await openPinStore(g.pins, { baseDir: dirname(resolve(file)), origin: "cli", reload: false });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const short = (h: string) => h.replace(/^sha256:/, "").slice(0, 12);

async function tools(sub: string | undefined, values: Record<string, string | boolean | undefined>, io: Io): Promise<number> {
  const file = values.config;
  if (typeof file !== "string") {
    io.err(`--config <file.yaml> is required\n\n${GOVERNANCE_HELP}`);
    return 2;
  }
  const route = typeof values.route === "string" ? values.route : undefined;
  const tool = typeof values.tool === "string" ? values.tool : undefined;
  return withStore(file, io, async (store) => {
    const s = store.snapshot();
    if (sub === "list") {
      for (const [r, ts] of Object.entries(s.pins)) {
        if (route && r !== route) continue;
        for (const [t, p] of Object.entries(ts)) {
          const pend = s.pending[r]?.[t];
          io.out(
            `${r}\t${t}\t${short(p.hash)}\tpinned ${p.pinnedAt}${p.approvedBy ? ` by ${p.approvedBy}` : ""}${pend ? `\tCHANGED → ${short(pend.hash)} (pending since ${pend.seenAt})` : ""}\n`,
          );
        }
      }
      return 0;
    }
    if (sub === "diff") {
      let n = 0;
      for (const [r, ts] of Object.entries(s.pending)) {
        if (route && r !== route) continue;
        for (const [t, p] of Object.entries(ts)) {
          if (tool && t !== tool) continue;
          n++;
          const pin = s.pins[r]?.[t];
          io.out(`route ${r}, tool ${t}: pinned ${short(p.pinnedHash)} → served ${short(p.hash)} (first seen ${p.seenAt})\n`);
          for (const c of pin ? definitionDiff(pin.definition, p.definition) : []) {
            io.out(`  ${c.field}:\n${c.lines.map((l) => `    ${l}`).join("\n")}\n`);
          }
          io.out(`  approve with: mcp-gateway tools approve --config ${file} --route ${r} --tool ${t} --hash ${short(p.hash)}\n\n`);
        }
      }
      if (n === 0) io.out("no pending changes\n");
      return 0;
    }
    if (sub === "approve") {
      if (!route || !tool) {
        io.err(`tools approve needs --route and --tool\n\n${GOVERNANCE_HELP}`);
        return 2;
      }
      const by = typeof values.by === "string" && values.by !== "" ? values.by : safeUser();
      const hash = typeof values.hash === "string" ? values.hash : undefined;
      const e = await store.approve(route, tool, hash, by);
      io.out(`approved ${route}/${tool}: ${short(e.previousHash ?? "")} → ${short(e.hash)} by ${by}\n`);
      return 0;
    }
    io.err(`unknown tools command "${sub ?? ""}"\n\n${GOVERNANCE_HELP}`);
    return 2;
  });
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

async function policy(sub: string | undefined, values: Record<string, string | boolean | undefined>, io: Io): Promise<number> {
  if (sub !== "replay") {
    io.err(`unknown policy command "${sub ?? ""}"\n\n${GOVERNANCE_HELP}`);
    return 2;
  }
  if (typeof values.audit !== "string" || typeof values.bundle !== "string") {
    io.err(`policy replay needs --audit <file> and --bundle <bundle.tar.gz>\n\n${GOVERNANCE_HELP}`);
    return 2;
  }
  // The policy engine is loaded for this command only (not for `mcp-gateway --help` or `tools`).
  const { formatReplay, replayAudit } = await import("./replay/policy-replay.ts");
  const report = await replayAudit({ auditFile: values.audit, bundlePath: values.bundle });
  if (values.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  else io.out(formatReplay(report, { showUnchanged: values["show-unchanged"] === true }));
  return 0;
}

/** `mcp-gateway tools …` / `mcp-gateway policy …`. Returns the exit code. */
export async function runGovernanceCommand(argv: string[], io: Io = stdio): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        route: { type: "string" },
        tool: { type: "string" },
        hash: { type: "string" },
        by: { type: "string" },
        audit: { type: "string" },
        bundle: { type: "string" },
        json: { type: "boolean" },
        "show-unchanged": { type: "boolean" },
      },
    });
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${GOVERNANCE_HELP}`);
    return 2;
  }
  const [group, sub] = parsed.positionals;
  const values = parsed.values as Record<string, string | boolean | undefined>;
  try {
    return group === "tools" ? await tools(sub, values, io) : await policy(sub, values, io);
  } catch (e) {
    io.err(`mcp-gateway ${group}: ${(e as Error).message}\n`);
    return 1;
  }
}
