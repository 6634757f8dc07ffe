// Attribute and metric names in one list: the MCP semantic conventions (open-telemetry/semantic-conventions,
// docs/gen-ai/mcp.md, status development) plus the gateway's own `mcp_gateway.*` namespace.

// MCP / GenAI / JSON-RPC semantic conventions.
export const MCP_METHOD_NAME = "mcp.method.name";
export const MCP_PROTOCOL_VERSION = "mcp.protocol.version";
export const MCP_SESSION_ID = "mcp.session.id";
export const MCP_RESOURCE_URI = "mcp.resource.uri";
export const GEN_AI_TOOL_NAME = "gen_ai.tool.name";
export const GEN_AI_PROMPT_NAME = "gen_ai.prompt.name";
export const GEN_AI_OPERATION_NAME = "gen_ai.operation.name";
export const GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments";
export const GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result";
export const JSONRPC_REQUEST_ID = "jsonrpc.request.id";
export const RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code";
export const ERROR_TYPE = "error.type";
export const CLIENT_ADDRESS = "client.address";
export const SERVER_ADDRESS = "server.address";
export const SERVER_PORT = "server.port";
export const NETWORK_TRANSPORT = "network.transport";
export const NETWORK_PROTOCOL_NAME = "network.protocol.name";
export const HTTP_RESPONSE_STATUS_CODE = "http.response.status_code";
export const USER_ID = "user.id";
export const PROCESS_EXECUTABLE_NAME = "process.executable.name";
export const PROCESS_EXECUTABLE_PATH = "process.executable.path";

// Gateway-specific.
export const GW_SERVER = "mcp_gateway.server";
export const GW_DIRECTION = "mcp_gateway.direction";
export const GW_TARGET = "mcp_gateway.target";
export const GW_PRINCIPAL_ISS = "mcp_gateway.principal.iss";
export const GW_PRINCIPAL_CLIENT_ID = "mcp_gateway.principal.client_id";
export const GW_ERROR_CODE = "mcp_gateway.error.code";
export const GW_STAGE = "mcp_gateway.stage";
export const GW_FILTER = "mcp_gateway.filter";
export const GW_STAGE_REPLIED = "mcp_gateway.stage.replied";
export const GW_UPSTREAM_TRANSPORT = "mcp_gateway.upstream.transport";
export const GW_AUTHZ_DECISION = "mcp_gateway.authz.decision";
export const GW_AUTHZ_ENGINE = "mcp_gateway.authz.engine";
export const GW_CREDENTIALS_CACHE = "mcp_gateway.credentials.cache";
export const GW_CREDENTIALS_SOURCE = "mcp_gateway.credentials.source";
/** How a session ended: deleted (client DELETE), expired (its sealed expiry passed), lost (backend 404 / child gone). */
export const GW_SESSION_END = "mcp_gateway.session.end_reason";

// Metrics.
export const M_SERVER_OPERATION_DURATION = "mcp.server.operation.duration";
export const M_CLIENT_OPERATION_DURATION = "mcp.client.operation.duration";
export const M_SERVER_SESSION_DURATION = "mcp.server.session.duration";
export const M_CLIENT_SESSION_DURATION = "mcp.client.session.duration";
export const M_AUTHZ_DECISIONS = "mcp_gateway.authz.decisions";
export const M_UPSTREAM_ERRORS = "mcp_gateway.upstream.errors";
export const M_SESSIONS_ACTIVE = "mcp_gateway.sessions.active";
export const M_CREDENTIAL_LOOKUPS = "mcp_gateway.credentials.lookups";
export const M_GATEWAY_ERRORS = "mcp_gateway.errors";
/** Spans lost before export (queue at its bound, or an export that failed after its retries). */
export const M_DROPPED_SPANS = "mcp_gateway.telemetry.spans_dropped";

/** Advised bucket boundaries (seconds) for the four MCP duration histograms (semconv "Metrics"). */
export const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
