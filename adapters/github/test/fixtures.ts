// Test helper: the recorded GitHub API (@octokit/fixtures-server) in a child process on loopback.
// `load(scenario)` gives a fresh base URL that answers exactly that scenario's recorded requests, in order.

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The token and media type every recording was made with: the server matches them exactly. */
export const FIXTURES_TOKEN = "0000000000000000000000000000000000000001";

export interface FixturesServer {
  readonly url: string;
  load(scenario: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startFixturesServer(): Promise<FixturesServer> {
  const main = fileURLToPath(new URL("./fixtures-server-main.ts", import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [main], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`fixtures-server did not start: ${err}`)), 60_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        clearTimeout(t);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`fixtures-server exited (${code}): ${err}`));
    });
  });
  return {
    url,
    async load(scenario) {
      const res = await fetch(`${url}/fixtures`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ scenario }),
      });
      if (res.status !== 201) throw new Error(`fixtures-server: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { url: string }).url;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
