// The narrow slices of the ServiceNow and Catalyst Center clients the deployment activities use.
// The adapters' clients (ServiceNowClient, CatalystCenterClient) satisfy them structurally.

/** A ServiceNow record as the Table API returns it: every value a string. */
export type ServiceNowRecord = Record<string, string>;

export interface ChangePort {
  createChange(fields: Record<string, string>): Promise<ServiceNowRecord>;
  getChange(numberOrSysId: string): Promise<ServiceNowRecord | undefined>;
  updateChange(sysId: string, fields: Record<string, string>): Promise<ServiceNowRecord>;
  addWorkNote(table: string, sysId: string, text: string): Promise<unknown>;
  closeChange(sysId: string, close: { closeCode: string; closeNotes: string; state?: string }): Promise<ServiceNowRecord>;
  /** Encoded-query search: finds the change a previous attempt of the same step opened. */
  query(table: string, o: { query?: string; limit?: number }): Promise<{ records: ServiceNowRecord[] }>;
}

export interface DeploymentTarget {
  /** Managed device UUID (validation resolves host names and IP addresses to it). */
  id: string;
  type?: "MANAGED_DEVICE_UUID";
  params?: Record<string, unknown>;
}

export interface DeployPort {
  getTemplate(id: string): Promise<Record<string, unknown> | undefined>;
  listDevices(query?: Record<string, string>): Promise<unknown>;
  deployTemplate(req: {
    templateId: string;
    targets: readonly DeploymentTarget[];
    params?: Record<string, unknown>;
  }): Promise<{ deploymentId: string; taskId?: string }>;
  getDeploymentStatus(deploymentId: string): Promise<Record<string, unknown>>;
}
