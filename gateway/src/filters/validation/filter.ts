// The validation stage: tools/call arguments are checked against the tool's known input schema
// (last served definition, else its pin) before the call reaches the backend. docs/governance.md.

import type { Filter, LocalReply } from "../../chain/types.ts";
import type { RpcMessage } from "../../codec/jsonrpc.ts";
import { channels, STAGE_ATTRIBUTES } from "../../diagnostics.ts";
import { GatewayError } from "../../errors.ts";
import type { KnownTool } from "../tool-catalog/catalog.ts";
import { describeError, ValidatorCache } from "./validators.ts";

export interface ValidationFilterOptions {
  /** Route → "enforce" | "off" (config servers.<name>.tools.validation); a route not listed is enforced. */
  routes: Readonly<Record<string, "enforce" | "off">>;
  /** The definition calls of (route, tool) are validated against, when the gateway knows one. */
  lookup: (route: string, tool: string) => KnownTool | undefined;
  unknownTools: "forward" | "refuse";
  maxDepth: number;
  maxNodes: number;
  cacheSize: number;
  maxSchemaChars: number;
}

/** ex.vars key: how the last tools/call of the exchange was validated ("valid" | "unchecked"). */
export const VALIDATION_RESULT: unique symbol = Symbol("mcp-gateway.validation");

/**
 * Depth and value count of `v`, stopping as soon as either bound is passed (so a hostile argument
 * costs at most maxNodes steps). Returns the bound that was exceeded, or undefined.
 */
export function exceedsBounds(v: unknown, maxDepth: number, maxNodes: number): string | undefined {
  let nodes = 0;
  const walk = (x: unknown, depth: number): string | undefined => {
    if (++nodes > maxNodes) return `more than ${maxNodes} values`;
    if (typeof x !== "object" || x === null) return undefined;
    if (depth >= maxDepth) return `nested deeper than ${maxDepth} levels`;
    if (Array.isArray(x)) {
      for (const y of x) {
        const r = walk(y, depth + 1);
        if (r) return r;
      }
      return undefined;
    }
    for (const k in x) {
      const r = walk((x as Record<string, unknown>)[k], depth + 1);
      if (r) return r;
    }
    return undefined;
  };
  return walk(v, 0);
}

export interface ValidationFilter extends Filter {
  readonly validators: ValidatorCache;
}

export function createValidationFilter(o: ValidationFilterOptions): ValidationFilter {
  const validators = new ValidatorCache({ max: o.cacheSize, maxSchemaChars: o.maxSchemaChars });

  function check(route: string, msg: RpcMessage): LocalReply | "valid" | "unchecked" {
    const tool = msg.target!;
    // MCP: `arguments` is optional and, when present, an object.
    const args = msg.arguments === undefined ? {} : msg.arguments;
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      return { error: new GatewayError("ARGUMENTS_INVALID", "arguments must be an object").withData({ tool, path: "" }) };
    }
    const over = exceedsBounds(args, o.maxDepth, o.maxNodes);
    if (over) return { error: new GatewayError("ARGUMENTS_TOO_COMPLEX", over).withData({ tool }) };
    const known = o.lookup(route, tool);
    if (!known) {
      if (o.unknownTools === "refuse") return { error: new GatewayError("TOOL_SCHEMA_UNKNOWN", `tool "${tool.slice(0, 64)}"`) };
      return "unchecked";
    }
    const c = validators.get(known.hash, known.definition.inputSchema);
    if (!c.ok) return { error: new GatewayError("TOOL_SCHEMA_UNUSABLE", c.reason).withData({ tool }) };
    if (c.validate(args)) return "valid";
    const first = c.validate.errors?.[0];
    const d = first ? describeError(first) : { path: "", keyword: "unknown", message: "is invalid" };
    return {
      error: new GatewayError("ARGUMENTS_INVALID", `${d.path || "(arguments)"} ${d.message}`).withData({
        tool,
        path: d.path,
        keyword: d.keyword,
      }),
    };
  }

  return {
    name: "validation",
    stage: "validation",
    validators,
    onMessage(ex, msg) {
      if (msg.method !== "tools/call" || msg.kind !== "request" || msg.target === undefined) return undefined;
      if (o.routes[ex.server] === "off") return undefined;
      const r = check(ex.server, msg);
      if (typeof r === "object") return r;
      ex.vars.set(VALIDATION_RESULT, r);
      // Only the notable outcome gets stage attributes (and so a stage span): a call forwarded unchecked.
      if (r === "unchecked" && channels.stageEnd.hasSubscribers) ex.vars.set(STAGE_ATTRIBUTES, { validation: r });
      return undefined;
    },
  };
}
