// The command line of an adapter that talks to one backend URL: `--stdio | --http [--host] [--port]`, the
// URL from a flag or the environment, `--timeout-ms`. The adapter supplies its names and its two hosts.

import { parseArgs } from "node:util";

export interface HostCli<Common> {
  /** Program name, the prefix of every message ("mcp-servicenow"). */
  name: string;
  /** Flag that gives the backend URL ("instance" for --instance). */
  urlFlag: string;
  /** Environment variable that gives it otherwise. */
  urlEnv: string;
  /** What the URL is, for the error when it is missing ("the instance URL"). */
  urlWhat: string;
  /** Options both hosts take, from the URL and the timeout (credentials from the environment go here). */
  common(url: string, timeoutMs: number | undefined): Common;
  serveStdio(o: Common): Promise<void>;
  serveHttp(o: Common & { host: string; port: number }): Promise<{ url: string; close(): Promise<void> }>;
}

/** Parse process.argv and run the chosen host; exits 2 on a missing URL or an unclear transport. */
export async function runHostCli<Common>(cli: HostCli<Common>): Promise<void> {
  const { values } = parseArgs({
    options: {
      stdio: { type: "boolean", default: false },
      http: { type: "boolean", default: false },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: process.env.PORT ?? "8080" },
      [cli.urlFlag]: { type: "string" },
      "timeout-ms": { type: "string" },
    },
  });
  const flagged = values[cli.urlFlag];
  const url = (typeof flagged === "string" ? flagged : undefined) ?? process.env[cli.urlEnv];
  if (!url) {
    process.stderr.write(`${cli.name}: set ${cli.urlEnv} (or --${cli.urlFlag}) to ${cli.urlWhat}\n`);
    process.exit(2);
  }
  const timeout = values["timeout-ms"];
  const common = cli.common(url, typeof timeout === "string" && timeout ? Number(timeout) : undefined);

  if (values.stdio === values.http) {
    process.stderr.write(`${cli.name}: choose one of --stdio or --http\n`);
    process.exit(2);
  }
  if (values.stdio) {
    await cli.serveStdio(common);
  } else {
    const a = await cli.serveHttp({ ...common, host: String(values.host), port: Number(values.port) });
    process.stderr.write(`${cli.name} listening on ${a.url}\n`);
    const stop = () => void a.close().then(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  }
}
