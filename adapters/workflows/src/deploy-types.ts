// What the template-deployment workflow takes, reports while it runs and returns. Types and
// constants only: the workflow bundle, the activities and the MCP server all import this file.

export const TASK_QUEUE = "mcp-edge-deployments";
export const WORKFLOW_TYPE = "deployTemplate";
/** Query answered by a running workflow with its current DeployProgress. */
export const PROGRESS_QUERY = "progress";

export interface DeployTemplateInput {
  /** Catalyst Center template id (UUID). */
  templateId: string;
  /** Devices to deploy to: managed device UUIDs, host names or management IP addresses. */
  targets: string[];
  /** Template variables. */
  params: Record<string, string>;
  /** Short description of the ServiceNow change (defaults to one naming the template and devices). */
  shortDescription?: string;
  /** ServiceNow assignment group (sys_id or name), when the change must go to a group. */
  assignmentGroup?: string;
  /** How often the deployment is polled, in milliseconds (default 2000). */
  pollIntervalMs?: number;
  /** Who asked, for the change record (the MCP server's caller, e.g. an agent name); never a credential. */
  requestedBy?: string;
}

export type DeployPhase = "validating" | "opening_change" | "deploying" | "polling" | "closing_change" | "done";

export interface DeployProgress {
  phase: DeployPhase;
  /** 0..100, a rough figure: phases before polling count 0-20, polling 20-90, closing 90-100. */
  percent: number;
  message: string;
  changeNumber?: string;
  changeSysId?: string;
  deploymentId?: string;
}

export type DeployOutcome = "succeeded" | "failed" | "cancelled";

export interface DeviceOutcome {
  deviceId: string;
  name?: string;
  status: string;
  detail?: string;
}

export interface DeployTemplateResult {
  outcome: DeployOutcome;
  message: string;
  templateId: string;
  templateName?: string;
  changeNumber?: string;
  changeSysId?: string;
  deploymentId?: string;
  deploymentStatus?: string;
  devices: DeviceOutcome[];
}

/** Activity inputs and outputs. */
export interface ValidatedDeployment {
  templateName: string;
  targets: Array<{ id: string; name?: string; ip?: string }>;
}

export interface DeploymentState {
  status: string;
  terminal: boolean;
  succeeded: boolean;
  message: string;
  devices: DeviceOutcome[];
}
