// Summarise a V8 .cpuprofile (from `BENCH_PROFILE=dir npm run bench`, i.e. node --cpu-prof): top functions by self time
// and by inclusive time, with file:line, so a hot path can be read without a GUI. Usage: node bench/profile-top.ts <file> [N] [filter]
// or: node bench/profile-top.ts --callers <file> <leaf substring> [depth] (who calls a hot leaf).

import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  where: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

function label(cf: CallFrame, root: string): string {
  const name = cf.functionName || "(anonymous)";
  if (!cf.url) return name;
  const file = cf.url.startsWith("file://") ? relative(root, new URL(cf.url).pathname) : cf.url;
  // V8 line numbers are 0-based.
  return `${name} ${file}:${cf.lineNumber + 1}`;
}

export function hotspots(p: Profile, root: string): { hot: Hotspot[]; totalMs: number; idleMs: number } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    all += us;
    if (n.callFrame.functionName === "(idle)") idle += us;
    const k = label(n.callFrame, root);
    self.set(k, (self.get(k) ?? 0) + us);
    // Inclusive: count each distinct frame once per stack (recursion must not double-count).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = label(byId.get(cur)!.callFrame, root);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + us);
    }
  }
  const busy = all - idle || 1;
  const hot = [...self.keys()].map((k) => ({
    where: k,
    selfMs: (self.get(k) ?? 0) / 1000,
    selfPct: (100 * (self.get(k) ?? 0)) / busy,
    totalMs: (total.get(k) ?? 0) / 1000,
    totalPct: (100 * (total.get(k) ?? 0)) / busy,
  }));
  for (const k of total.keys())
    if (!self.has(k)) hot.push({ where: k, selfMs: 0, selfPct: 0, totalMs: total.get(k)! / 1000, totalPct: (100 * total.get(k)!) / busy });
  return { hot, totalMs: all / 1000, idleMs: idle / 1000 };
}

/** Where the time of leaf frames matching `leaf` comes from: their callers' stacks (`depth` frames up), by self time. */
export function callers(p: Profile, root: string, leaf: string, depth: number): Array<{ stack: string; ms: number }> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const acc = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    if (!label(byId.get(id)!.callFrame, root).includes(leaf)) continue;
    const frames: string[] = [];
    for (let cur = parent.get(id); cur !== undefined && frames.length < depth; cur = parent.get(cur))
      frames.push(label(byId.get(cur)!.callFrame, root));
    const k = frames.join("  ←  ");
    acc.set(k, (acc.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return [...acc].map(([stack, ms]) => ({ stack, ms })).sort((a, b) => b.ms - a.ms);
}

if (import.meta.main && process.argv[2] === "--callers") {
  const [, file, leaf, depth] = process.argv.slice(2);
  const prof = JSON.parse(readFileSync(file!, "utf8")) as Profile;
  for (const c of callers(prof, process.cwd(), leaf!, Number(depth ?? 4)).slice(0, 12))
    process.stdout.write(`${c.ms.toFixed(0).padStart(6)} ms  ${c.stack}\n`);
} else if (import.meta.main) {
  const [file, nArg, filter] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: node bench/profile-top.ts <file.cpuprofile> [N=25] [substring filter for the inclusive list]\n");
    process.exit(2);
  }
  const n = Number(nArg ?? 25);
  const { hot, totalMs, idleMs } = hotspots(JSON.parse(readFileSync(file, "utf8")) as Profile, process.cwd());
  const skip = (w: string) => w.startsWith("(root)") || w.startsWith("(idle)") || w.startsWith("(program)");
  const fmt = (h: Hotspot, key: "self" | "total") =>
    `${h[`${key}Pct`].toFixed(1).padStart(5)} %  ${h[`${key}Ms`].toFixed(0).padStart(6)} ms  ${h.where}`;
  const out = [`${file}: ${totalMs.toFixed(0)} ms sampled, ${idleMs.toFixed(0)} ms idle; percentages of busy time`, "", "self time:"];
  out.push(
    ...hot
      .filter((h) => h.selfMs > 0)
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, n)
      .map((h) => fmt(h, "self")),
  );
  out.push("", `inclusive time${filter ? ` (frames matching "${filter}")` : ""}:`);
  out.push(
    ...hot
      .filter((h) => !skip(h.where) && (!filter || h.where.includes(filter)))
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, n)
      .map((h) => fmt(h, "total")),
  );
  process.stdout.write(`${out.join("\n")}\n`);
}
