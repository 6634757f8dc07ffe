// Entry of `@mcp-edge/adapter-workflows`: the deployment workflow's activities and worker, the
// Temporal-backed MCP task store, and the workflows MCP server with its HTTP listener.

export { type ActivityDeps, createDeploymentActivities, type DeploymentActivities, deploymentState } from "./deploy-activities.ts";
export {
  createWorkflowsServer,
  DeployArguments,
  DeployOutput,
  type DeployToolOptions,
  deployTool,
  TOOL_NAME,
  WORKFLOW_ID_META,
} from "./deploy-tool.ts";
export * from "./deploy-types.ts";
export type { ChangePort, DeploymentTarget, DeployPort, ServiceNowRecord } from "./ports.ts";
export { type HttpOptions, type RunningHttp, serveWorkflowsHttp } from "./serve-http.ts";
export {
  argumentsDigest,
  type StartRequest,
  TemporalTaskStore,
  type TemporalTaskStoreOptions,
  WORKFLOW_ID_PREFIX,
  workflowIdFor,
} from "./temporal-task-store.ts";
export { createDeploymentWorker, type WorkerOptions, workflowsPath } from "./worker.ts";
