// The `mcp-gateway tools|policy` subcommands run in-process for tests, with their output captured
// (the real command's own process is exercised by pins-validation.test.ts).

import { runGovernanceCommand } from "../../src/cli-governance.ts";

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runGovernanceCommand(argv, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
  });
  return { code, out, err };
}
