// The approval stage: a call the policy allowed with `require_approval: true` is shown to the calling
// user through MCP elicitation (form mode) and forwarded only on an explicit accept. docs/governance.md.

import type { Exchange, Filter, LocalReply } from "../../chain/types.ts";
import { isObject, type RpcMessage } from "../../codec/jsonrpc.ts";
import { channels, type GovernanceEvent } from "../../diagnostics.ts";
import { type ErrorCode, GatewayError } from "../../errors.ts";
import { ClientRequestError } from "../../relay-client-requests.ts";
import { AUTHZ_OUTCOME, type Outcome } from "../authz/index.ts";

export interface ApprovalFilterOptions {
  timeoutMs: number;
  maxPending: number;
  maxArgumentChars: number;
  gatewayId?: string;
}

/** The one field of the approval form: a required yes/no, so "accept" without a yes is not an approval. */
export const APPROVAL_FIELD = "approve";

/** Elicitation `mode` exists from 2025-11-25 on; earlier clients get the 2025-06-18 shape. */
const MODE_FROM = "2025-11-25";

function describeCall(ex: Exchange, msg: RpcMessage, reason: string, maxChars: number): string {
  let args = JSON.stringify(msg.arguments ?? {}) ?? "{}";
  if (args.length > maxChars) args = `${args.slice(0, maxChars)}… (${args.length} characters in all)`;
  return [
    "The gateway needs your approval before this call runs.",
    `Tool: ${msg.target}`,
    `Backend: ${ex.server}`,
    `Arguments: ${args}`,
    `Policy: ${reason}`,
  ].join("\n");
}

export function createApprovalFilter(o: ApprovalFilterOptions): Filter {
  let pending = 0;

  function publish(type: GovernanceEvent["type"], ex: Exchange, tool: string, reason?: string): void {
    if (!channels.governance.hasSubscribers) return;
    channels.governance.publish({ gatewayId: o.gatewayId, type, server: ex.server, tool, exchange: ex, ...(reason ? { reason } : {}) });
  }

  function refuse(ex: Exchange, tool: string, code: ErrorCode, why: string): LocalReply {
    const type: GovernanceEvent["type"] =
      code === "APPROVAL_TIMEOUT" ? "approval.timeout" : code === "APPROVAL_UNSUPPORTED" ? "approval.unsupported" : "approval.declined";
    publish(type, ex, tool, why);
    return { error: new GatewayError(code, why).withData({ tool }) };
  }

  async function ask(ex: Exchange, msg: RpcMessage, out: Outcome): Promise<LocalReply | undefined> {
    const tool = msg.target!;
    publish("approval.requested", ex, tool);
    // Why the client cannot be asked, in the words the user will read.
    if (ex.protocolVersion >= "2026-07-28") {
      return refuse(
        ex,
        tool,
        "APPROVAL_UNSUPPORTED",
        "protocol 2026-07-28 has no server-to-client requests; the gateway cannot ask for approval yet",
      );
    }
    if (ex.downstream === "sse") {
      return refuse(
        ex,
        tool,
        "APPROVAL_UNSUPPORTED",
        "the legacy HTTP+SSE transport (2024-11-05) has no elicitation; connect over Streamable HTTP",
      );
    }
    if (ex.session?.el !== 1) {
      return refuse(
        ex,
        tool,
        "APPROVAL_UNSUPPORTED",
        "the client did not declare the elicitation capability (form mode) when it initialized",
      );
    }
    if (!ex.askClient) {
      return refuse(ex, tool, "APPROVAL_UNSUPPORTED", "only a tools/call sent alone (not in a batch) can carry an approval request");
    }
    if (pending >= o.maxPending) {
      publish("approval.declined", ex, tool, "too many approvals pending");
      return { error: new GatewayError("APPROVAL_BUSY").withData({ tool }) };
    }
    const params: Record<string, unknown> = {
      message: describeCall(ex, msg, out.decision.reason, o.maxArgumentChars),
      requestedSchema: {
        type: "object",
        properties: {
          [APPROVAL_FIELD]: {
            type: "boolean",
            title: `Run ${tool} on ${ex.server}`,
            description: "Yes runs the call; anything else refuses it",
          },
        },
        required: [APPROVAL_FIELD],
      },
    };
    if (ex.protocolVersion >= MODE_FROM) params.mode = "form";
    pending++;
    let answer: Record<string, unknown>;
    try {
      answer = await ex.askClient("elicitation/create", params, { timeoutMs: o.timeoutMs });
    } catch (e) {
      if (e instanceof ClientRequestError && e.kind === "timeout") return refuse(ex, tool, "APPROVAL_TIMEOUT", e.message);
      if (e instanceof ClientRequestError && e.kind === "busy") return { error: new GatewayError("APPROVAL_BUSY").withData({ tool }) };
      return refuse(ex, tool, "APPROVAL_DECLINED", e instanceof Error ? e.message : "no answer");
    } finally {
      pending--;
    }
    const result = answer.result;
    if (!isObject(result)) return refuse(ex, tool, "APPROVAL_DECLINED", "the client answered the approval request with an error");
    const content = result.content;
    if (result.action === "accept" && isObject(content) && content[APPROVAL_FIELD] === true) {
      publish("approval.accepted", ex, tool);
      return undefined;
    }
    const action = typeof result.action === "string" ? result.action.slice(0, 16) : "no action";
    return refuse(
      ex,
      tool,
      "APPROVAL_DECLINED",
      action === "accept" ? "the user did not confirm the call" : `the user answered "${action}"`,
    );
  }

  return {
    name: "approval",
    stage: "approval",
    onMessage(ex, msg) {
      if (msg.method !== "tools/call" || msg.kind !== "request" || msg.target === undefined) return undefined;
      const out = ex.vars.get(AUTHZ_OUTCOME) as Outcome | undefined;
      if (!out?.decision.allow || out.decision.require_approval !== true) return undefined;
      return ask(ex, msg, out);
    },
  };
}
