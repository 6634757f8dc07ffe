// The activities of the template-deployment workflow: each is one idempotent step against
// ServiceNow or Catalyst Center, through the adapters' clients (passed in as ports).

import { ApplicationFailure, Context, heartbeat } from "@temporalio/activity";
import type { DeploymentState, DeployTemplateInput, DeviceOutcome, ValidatedDeployment } from "./deploy-types.ts";
import type { ChangePort, DeployPort, ServiceNowRecord } from "./ports.ts";

/** Catalyst Center deployment statuses after which nothing changes any more. */
const SUCCESS = new Set(["SUCCESS", "SUCCEEDED", "COMPLETED"]);
const FAILURE = new Set(["FAILURE", "FAILED", "ERROR", "CANCELLED", "ABORTED", "PARTIAL_FAILURE", "PARTIAL_SUCCESS"]);

/** ServiceNow change_request states (Table API values) and the standard change model's next state. */
const CHANGE_NEW = "-5";
const CHANGE_IMPLEMENT = "-1";
const CHANGE_REVIEW = "0";
const CHANGE_CLOSED = "3";
const CHANGE_CANCELED = "4";
const STANDARD_NEXT: Record<string, string> = { "-5": "-2", "-2": "-1", "-1": "0", "0": "3" };

export interface ActivityDeps {
  changes: ChangePort;
  deployments: DeployPort;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { status?: unknown; statusCode?: unknown };
  const s = typeof e.status === "number" ? e.status : typeof e.statusCode === "number" ? e.statusCode : undefined;
  return s;
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && typeof e === "object" && e !== null; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);

/**
 * Turn a client error into what Temporal should do with it. 429/502/503/504 and refused
 * connections are transient (the backend did not act): thrown as is, the retry policy backs off.
 * Other 4xx are the request's fault: non-retryable. Anything else (timeouts included) is retried:
 * every step using this is idempotent. Deploying is not, and classifies its own errors.
 */
function classify(err: unknown, step: string): never {
  const status = statusOf(err);
  const message = `${step}: ${err instanceof Error ? err.message : String(err)}`;
  if (status === 429 || status === 502 || status === 503 || status === 504) {
    throw ApplicationFailure.retryable(message, "BackendUnavailable");
  }
  if (status !== undefined && status >= 400 && status < 500) {
    throw ApplicationFailure.nonRetryable(message, status === 404 ? "NotFound" : "InvalidRequest");
  }
  const code = causeCode(err);
  if (code && NOT_SENT.has(code)) throw ApplicationFailure.retryable(message, "BackendUnreachable");
  throw ApplicationFailure.retryable(message, "BackendError");
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A device list as an array, whether the client unwrapped Catalyst Center's `{ response: [...] }` or not. */
function listOf(v: unknown): Array<Record<string, unknown>> {
  const list = Array.isArray(v)
    ? v
    : typeof v === "object" && v !== null && Array.isArray((v as { response?: unknown }).response)
      ? (v as { response: unknown[] }).response
      : [];
  return list.filter((d): d is Record<string, unknown> => typeof d === "object" && d !== null);
}

function devicesOf(status: Record<string, unknown>): DeviceOutcome[] {
  const list = Array.isArray(status.devices) ? status.devices : [];
  return list
    .filter((d): d is Record<string, unknown> => typeof d === "object" && d !== null)
    .map((d) => ({
      deviceId: str(d.deviceId) ?? str(d.identifier) ?? "unknown",
      ...(str(d.name) ? { name: str(d.name) } : {}),
      status: str(d.status) ?? "UNKNOWN",
      ...(str(d.detailedStatusMessage) ? { detail: str(d.detailedStatusMessage) } : {}),
    }));
}

export function deploymentState(status: Record<string, unknown>): DeploymentState {
  const s = (str(status.status) ?? "UNKNOWN").toUpperCase();
  const devices = devicesOf(status);
  const failedDevice = devices.find((d) => FAILURE.has(d.status.toUpperCase()));
  const succeeded = SUCCESS.has(s) && !failedDevice;
  return {
    status: s,
    terminal: SUCCESS.has(s) || FAILURE.has(s),
    succeeded,
    message: str(status.statusMessage) ?? failedDevice?.detail ?? "",
    devices,
  };
}

export function createDeploymentActivities(deps: ActivityDeps) {
  const { changes, deployments } = deps;

  return {
    /** The template exists and every target is a managed device; targets resolve to device UUIDs. */
    async validateDeployment(req: { templateId: string; targets: string[]; params: Record<string, string> }): Promise<ValidatedDeployment> {
      if (req.targets.length === 0) throw ApplicationFailure.nonRetryable("no target devices", "InvalidRequest");
      let template: Record<string, unknown> | undefined;
      try {
        template = await deployments.getTemplate(req.templateId);
      } catch (e) {
        classify(e, `template ${req.templateId}`);
      }
      if (!template) throw ApplicationFailure.nonRetryable(`template ${req.templateId} does not exist`, "NotFound");
      let devices: Array<Record<string, unknown>>;
      try {
        devices = listOf(await deployments.listDevices());
      } catch (e) {
        classify(e, "device inventory");
      }
      const targets: ValidatedDeployment["targets"] = [];
      const problems: string[] = [];
      for (const t of req.targets) {
        const d = devices.find((x) => x.id === t || x.hostname === t || x.managementIpAddress === t);
        if (!d || typeof d.id !== "string") {
          problems.push(`unknown device ${t}`);
          continue;
        }
        if (typeof d.reachabilityStatus === "string" && d.reachabilityStatus !== "Reachable") {
          problems.push(`device ${t} is ${d.reachabilityStatus}`);
          continue;
        }
        targets.push({
          id: d.id,
          ...(str(d.hostname) ? { name: str(d.hostname) } : {}),
          ...(str(d.managementIpAddress) ? { ip: str(d.managementIpAddress) } : {}),
        });
      }
      // Required template variables without a default must be given: better refused now than half-deployed.
      const declared = Array.isArray(template.templateParams) ? template.templateParams : [];
      for (const p of declared as Array<Record<string, unknown>>) {
        const name = str(p.parameterName);
        if (name && p.required === true && p.defaultValue === undefined && !(name in req.params))
          problems.push(`template variable ${name} is required`);
      }
      if (problems.length > 0) throw ApplicationFailure.nonRetryable(`invalid deployment: ${problems.join("; ")}`, "InvalidRequest");
      return { templateName: str(template.name) ?? req.templateId, targets };
    },

    /**
     * Opens a standard (pre-approved) change and moves it to Implement. Its correlation id is the workflow
     * id: a retry after a lost answer finds the change the first attempt opened instead of opening another.
     */
    async openChange(req: {
      workflowId: string;
      input: DeployTemplateInput;
      validated: ValidatedDeployment;
    }): Promise<{ sysId: string; number: string }> {
      const names = req.validated.targets.map((t) => t.name ?? t.id).join(", ");
      try {
        const existing = (await changes.query("change_request", { query: `correlation_id=${req.workflowId}`, limit: 1 })).records[0];
        let rec: ServiceNowRecord =
          existing ??
          (await changes.createChange({
            type: "standard",
            short_description: req.input.shortDescription ?? `Deploy template ${req.validated.templateName} to ${names}`,
            description: [
              `Template: ${req.validated.templateName} (${req.input.templateId})`,
              `Devices: ${names}`,
              `Requested by: ${req.input.requestedBy ?? "unknown"}`,
              `Workflow: ${req.workflowId}`,
            ].join("\n"),
            correlation_id: req.workflowId,
            correlation_display: "mcp-edge deploy_template",
            ...(req.input.assignmentGroup ? { assignment_group: req.input.assignmentGroup } : {}),
          }));
        // Standard change model: New → Scheduled → Implement.
        for (let i = 0; i < 3 && rec.state !== CHANGE_IMPLEMENT; i++) {
          const next = STANDARD_NEXT[rec.state ?? CHANGE_NEW];
          if (!next) break;
          rec = await changes.updateChange(rec.sys_id!, { state: next });
        }
        return { sysId: rec.sys_id!, number: rec.number ?? rec.sys_id! };
      } catch (e) {
        classify(e, "open change request");
      }
    },

    async startDeployment(req: {
      workflowId: string;
      templateId: string;
      targets: ValidatedDeployment["targets"];
      params: Record<string, string>;
    }): Promise<{ deploymentId: string; taskId?: string }> {
      try {
        const r = await deployments.deployTemplate({
          templateId: req.templateId,
          targets: req.targets.map((t) => ({ id: t.id, type: "MANAGED_DEVICE_UUID", params: req.params })),
          params: req.params,
        });
        return { deploymentId: r.deploymentId, ...(r.taskId ? { taskId: r.taskId } : {}) };
      } catch (e) {
        // A deploy request that may have reached Catalyst Center is never repeated (the workflow also
        // runs this activity with one attempt): refusals are the request's fault, the rest is ambiguous.
        const status = statusOf(e);
        const message = `deploy template: ${e instanceof Error ? e.message : String(e)}`;
        if (status !== undefined && status >= 400 && status < 500 && status !== 429)
          throw ApplicationFailure.nonRetryable(message, "InvalidRequest");
        throw ApplicationFailure.nonRetryable(
          `${message} (the outcome is unknown: check Catalyst Center before deploying again)`,
          "OutcomeUnknown",
        );
      }
    },

    async noteOnChange(req: { sysId: string; text: string }): Promise<void> {
      try {
        await changes.addWorkNote("change_request", req.sysId, req.text);
      } catch (e) {
        classify(e, "work note");
      }
    },

    /**
     * Polls the deployment until it ends, heartbeating each status. A retry (worker restarted, heartbeat
     * timed out) starts from the last heartbeat; cancellation arrives through the heartbeat and ends the poll.
     */
    async followDeployment(req: { deploymentId: string; pollIntervalMs: number }): Promise<DeploymentState> {
      const ctx = Context.current();
      const resumed = ctx.info.heartbeatDetails as { polls?: number } | undefined;
      let polls = resumed?.polls ?? 0;
      for (;;) {
        let raw: Record<string, unknown>;
        try {
          raw = await deployments.getDeploymentStatus(req.deploymentId);
        } catch (e) {
          // Heartbeat anyway so a long outage of the backend is not mistaken for a dead worker.
          heartbeat({ polls, status: "UNREACHABLE" });
          const status = statusOf(e);
          if (status !== undefined && status >= 400 && status < 500 && status !== 429) classify(e, "deployment status");
          await ctx.sleep(req.pollIntervalMs);
          continue;
        }
        const state = deploymentState(raw);
        polls++;
        heartbeat({ polls, status: state.status, devices: state.devices.length });
        if (state.terminal) return state;
        await ctx.sleep(req.pollIntervalMs);
      }
    },

    /**
     * Asked to stop a running deployment. Catalyst Center has no API that stops a template deployment
     * once started, so unless the client offers one this records the status at cancellation.
     */
    async stopDeployment(req: { deploymentId: string }): Promise<{ stopped: boolean; detail: string }> {
      const port = deployments as DeployPort & { cancelDeployment?: (id: string) => Promise<unknown> };
      if (typeof port.cancelDeployment === "function") {
        await port.cancelDeployment(req.deploymentId);
        return { stopped: true, detail: "The deployment was stopped." };
      }
      let status = "UNKNOWN";
      try {
        status = deploymentState(await deployments.getDeploymentStatus(req.deploymentId)).status;
      } catch {
        // The note is still written; the status is simply not known.
      }
      return {
        stopped: false,
        detail: `Catalyst Center cannot stop a running template deployment; its status at cancellation was ${status}. Check the devices.`,
      };
    },

    /**
     * Closes the change: Canceled (4) after a cancellation, otherwise through Review to Closed (3) with the
     * close code successful or unsuccessful. A change already closed or canceled is left as it is.
     */
    async closeChange(req: {
      sysId: string;
      succeeded: boolean;
      cancelled?: boolean;
      notes: string;
    }): Promise<{ state: string; alreadyClosed: boolean }> {
      try {
        let current = await changes.getChange(req.sysId);
        if (!current) throw ApplicationFailure.nonRetryable(`change ${req.sysId} no longer exists`, "NotFound");
        const state = current.state ?? CHANGE_NEW;
        if (state === CHANGE_CLOSED || state === CHANGE_CANCELED) return { state, alreadyClosed: true };
        const closeCode = req.succeeded ? "successful" : "unsuccessful";
        if (req.cancelled) {
          await changes.closeChange(req.sysId, { closeCode, closeNotes: req.notes, state: CHANGE_CANCELED });
          return { state: CHANGE_CANCELED, alreadyClosed: false };
        }
        for (let i = 0; i < 4 && current.state !== CHANGE_REVIEW; i++) {
          const next = STANDARD_NEXT[current.state ?? CHANGE_NEW];
          if (!next || next === CHANGE_CLOSED) break;
          current = await changes.updateChange(req.sysId, { state: next });
        }
        await changes.closeChange(req.sysId, { closeCode, closeNotes: req.notes, state: CHANGE_CLOSED });
        return { state: CHANGE_CLOSED, alreadyClosed: false };
      } catch (e) {
        if (e instanceof ApplicationFailure) throw e;
        classify(e, "close change request");
      }
    },
  };
}

export type DeploymentActivities = ReturnType<typeof createDeploymentActivities>;
