// `npm run build -w gateway` (also run by `npm pack`): compiles src/ to dist/ (JavaScript + declarations,
// relative `.ts` imports rewritten to `.js`) and copies the default policy bundle into the package.

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const dist = `${pkg}dist`;
// A clean dist: a module deleted from src must not linger in the package.
rmSync(dist, { recursive: true, force: true });
// tsc comes from the repository's devDependencies (npm puts node_modules/.bin on PATH for scripts).
const tsc = spawnSync("tsc", ["-p", `${pkg}tsconfig.build.json`], { stdio: "inherit", shell: process.platform === "win32" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
// Node refuses to strip types under node_modules, so the package ships JavaScript only; the wasm policy
// bundle the default authz engine loads goes beside it (dist/policy/, found by filters/authz/wasm-engine.ts).
mkdirSync(`${dist}/policy`, { recursive: true });
copyFileSync(fileURLToPath(new URL("../../policies/bundle/bundle.tar.gz", import.meta.url)), `${dist}/policy/bundle.tar.gz`);
