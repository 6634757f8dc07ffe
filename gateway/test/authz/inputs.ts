// The table of OPA inputs both engines must agree on: every group × server × action × MFA, the site
// rule, protocol methods, unknown tools and methods, and odd (malformed) inputs.

import type { AuthzAction, AuthzInput, FilterItem } from "../../src/filters/authz/types.ts";

export const REQUEST = { protocol_version: "2025-11-25", session: "s-1", client_address: "127.0.0.1", time: "2026-01-01T00:00:00.000Z" };
export const REQUEST_2026 = {
  protocol_version: "2026-07-28",
  session: null,
  client_address: "127.0.0.1",
  time: "2026-01-01T00:00:00.000Z",
};

export const GROUPS = [
  ["admin"],
  ["network-engineers"],
  ["network-engineers", "site:paris"],
  ["service-desk"],
  ["developers"],
  [],
  ["interns"],
];
export const SERVERS = ["catalyst-center", "servicenow", "github", "rest-bridge", "unknown-server"];
export const ACTIONS: AuthzAction[] = ["read", "write", "execute"];

export function subject(groups: string[], amr: string[]) {
  return { sub: "alice", iss: "https://idp.test", groups, scopes: ["mcp"], amr, claims: { email: "alice@example.test" } };
}

export function call(groups: string[], amr: string[], server: string, target: string, action: AuthzAction, args: unknown = {}): AuthzInput {
  return { subject: subject(groups, amr), server, method: "tools/call", target, action, arguments: args, request: REQUEST };
}

export function table(): unknown[] {
  const out: unknown[] = [];
  for (const groups of GROUPS) {
    for (const amr of [["pwd"], ["pwd", "mfa"]]) {
      for (const server of SERVERS) {
        for (const action of ACTIONS) out.push(call(groups, amr, server, "some_tool", action));
        for (const method of [
          "initialize",
          "ping",
          "notifications/initialized",
          "tools/list",
          "prompts/list",
          "resources/list",
          "sampling/createMessage",
        ]) {
          out.push({ subject: subject(groups, amr), server, method, request: REQUEST });
        }
        out.push({
          subject: subject(groups, amr),
          server,
          method: "prompts/get",
          target: "p",
          action: "read",
          arguments: {},
          request: REQUEST_2026,
        });
        out.push({
          subject: subject(groups, amr),
          server,
          method: "resources/read",
          target: "file:///x",
          action: "read",
          request: REQUEST_2026,
        });
      }
      // The site rule.
      for (const args of [
        { site: "paris" },
        { site: "berlin" },
        { sites: ["paris", "lyon"] },
        {},
        { site: 3 },
        { devices: ["sw-1"] },
        null,
      ]) {
        out.push(call(groups, amr, "catalyst-center", "deploy_template", "execute", args));
      }
    }
  }
  // Unknown tools, odd inputs.
  out.push(call(["developers"], ["mfa"], "github", "no_such_tool_ever", "read"));
  out.push(call(["service-desk"], ["mfa"], "catalyst-center", "no_such_tool_ever", "write"));
  out.push(
    null,
    1,
    "string",
    [],
    {},
    { subject: null, server: "github", method: "ping", request: REQUEST },
    { subject: { sub: "", groups: [], amr: [] }, server: "github", method: "ping" },
    { subject: { sub: "a", groups: "admin", amr: [] }, server: "github", method: "ping" },
    { subject: { sub: "a", groups: ["admin", 7], amr: [] }, server: "github", method: "ping" },
    { subject: { sub: "a", groups: ["admin"], amr: [] }, server: "", method: "ping" },
    { subject: { sub: "a", groups: ["admin"], amr: ["mfa"] }, server: "github", method: "tools/call", action: "read" },
    { subject: { sub: "a", groups: ["admin"], amr: ["mfa"] }, server: "github", method: "tools/call", target: "t", action: "sudo" },
    {
      subject: { sub: "a", groups: ["admin"], amr: ["mfa"] },
      server: "github",
      method: "tools/call",
      target: "t",
      action: "read",
      arguments: "x",
    },
    { subject: { sub: "a", groups: ["admin"], amr: ["mfa"] }, server: "github", method: "x/custom", target: "t" },
    {
      subject: { sub: "ünï\u0000cøde", groups: ["admin"], amr: ["mfa"] },
      server: "github",
      method: "tools/call",
      target: 't"q',
      action: "read",
    },
  );
  return out;
}

export const CATALYST_ITEMS: FilterItem[] = [
  { target: "list_devices", action: "read" },
  { target: "get_site", action: "read" },
  { target: "update_site", action: "write" },
  { target: "deploy_template", action: "execute" },
  { target: "run_command", action: "execute" },
];

/** A 50-tool list with mixed actions. */
export function fiftyTools(): FilterItem[] {
  return Array.from({ length: 50 }, (_, i) => ({ target: `tool_${i}`, action: ACTIONS[i % 3]! }));
}
