// The template-deployment workflow: validate → open a ServiceNow change → deploy through Catalyst
// Center → follow the deployment (a heartbeating activity) → close the change with the outcome.
// Workflow code is replayed: it only calls activities, timers and the Temporal workflow API.

import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from "@temporalio/workflow";
import type { DeploymentActivities } from "./deploy-activities.ts";
import type { DeploymentState, DeployProgress, DeployTemplateInput, DeployTemplateResult } from "./deploy-types.ts";

export const progressQuery = defineQuery<DeployProgress>("progress");

// Transient backend failures (5xx, 429, connection refused) are retried with exponential backoff;
// the activities mark everything else non-retryable (bad input, ambiguous deploy), so one attempt.
const retry = { initialInterval: "1s", backoffCoefficient: 2, maximumInterval: "30s", maximumAttempts: 6 } as const;

const quick = proxyActivities<DeploymentActivities>({ startToCloseTimeout: "30s", retry });
// Deploying is the one step never repeated: a retry after a lost answer could deploy twice.
const once = proxyActivities<DeploymentActivities>({ startToCloseTimeout: "2m", retry: { maximumAttempts: 1 } });
// The change must be closed even if ServiceNow is down for hours: no attempt limit (only a refusal
// stops it), backing off to one try every 5 minutes. Never left open.
const closing = proxyActivities<DeploymentActivities>({
  startToCloseTimeout: "30s",
  retry: { initialInterval: "1s", backoffCoefficient: 2, maximumInterval: "5m" },
});
// Following a deployment can take long; the heartbeat timeout is what notices a dead worker, and
// the retry on another (or a restarted) worker resumes from the last heartbeat: it never re-deploys.
const following = proxyActivities<DeploymentActivities>({
  startToCloseTimeout: "2h",
  heartbeatTimeout: "10s",
  cancellationType: "WAIT_CANCELLATION_COMPLETED",
  retry,
});

/**
 * Runs a short step to its end even if the workflow is cancelled meanwhile, then honours the
 * cancellation. Interrupting a step of a few hundred milliseconds buys nothing, and it would leave the
 * step's effect unknown (did the change open? did the deploy start?) right when the clean-up needs it.
 */
async function uninterrupted<T>(step: () => Promise<T>): Promise<T> {
  const r = await CancellationScope.nonCancellable(step);
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure("cancelled by request");
  return r;
}

function reason(err: unknown): string {
  let e: unknown = err;
  // An activity's own message is more useful than "Activity task failed".
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

export async function deployTemplate(input: DeployTemplateInput): Promise<DeployTemplateResult> {
  const progress: DeployProgress = { phase: "validating", percent: 0, message: "validating the template and the target devices" };
  setHandler(progressQuery, () => progress);
  const set = (p: Partial<DeployProgress>) => Object.assign(progress, p);
  const { workflowId } = workflowInfo();
  const base = { templateId: input.templateId, devices: [] };

  let change: { sysId: string; number: string } | undefined;
  let deploymentId: string | undefined;
  try {
    const validated = await uninterrupted(() =>
      quick.validateDeployment({ templateId: input.templateId, targets: input.targets, params: input.params }),
    );
    set({ phase: "opening_change", percent: 10, message: "opening the change request" });

    change = await uninterrupted(() => quick.openChange({ workflowId, input, validated }));
    set({
      changeNumber: change.number,
      changeSysId: change.sysId,
      phase: "deploying",
      percent: 15,
      message: `change ${change.number} opened; deploying`,
    });

    // A cancellation arriving while the deploy request is out still learns the deployment id, or the
    // clean-up would record "nothing deployed" while a deployment runs.
    const dep = await uninterrupted(() =>
      once.startDeployment({ workflowId, templateId: input.templateId, targets: validated.targets, params: input.params }),
    );
    deploymentId = dep.deploymentId;
    set({ deploymentId, phase: "polling", percent: 20, message: `deployment ${deploymentId} running` });
    const sysId = change.sysId;
    // The note is a courtesy: a deployment that runs must be followed even if ServiceNow refuses it.
    await uninterrupted(() =>
      quick
        .noteOnChange({ sysId, text: `Catalyst Center deployment ${dep.deploymentId} started (task ${dep.taskId ?? "n/a"}).` })
        .catch(() => undefined),
    );

    const final: DeploymentState = await following.followDeployment({ deploymentId, pollIntervalMs: input.pollIntervalMs ?? 2000 });
    set({ phase: "closing_change", percent: 90, message: `deployment ${final.status}; closing ${change.number}` });
    // The deployment is over: its change is closed with the outcome, whatever arrives meanwhile.
    const closeSysId = change.sysId;
    const notes = `Template ${validated.templateName} deployment ${deploymentId}: ${final.status}. ${final.message}`.trim();
    await CancellationScope.nonCancellable(() => closing.closeChange({ sysId: closeSysId, succeeded: final.succeeded, notes }));
    set({ phase: "done", percent: 100, message: `deployment ${final.status}; change ${change.number} closed` });
    return {
      ...base,
      outcome: final.succeeded ? "succeeded" : "failed",
      message: final.succeeded ? `deployed; change ${change.number} closed successful` : `deployment failed: ${final.message}`,
      templateName: validated.templateName,
      changeNumber: change.number,
      changeSysId: change.sysId,
      deploymentId,
      deploymentStatus: final.status,
      devices: final.devices,
    };
  } catch (err) {
    const cancelled = isCancellation(err);
    const why = cancelled ? "cancelled by request" : reason(err);
    // Whatever happened, a change this workflow opened is updated and closed: never left open.
    // Non-cancellable, so a cancellation cannot interrupt the clean-up itself.
    await CancellationScope.nonCancellable(async () => {
      let stopped: string | undefined;
      if (cancelled && deploymentId) stopped = (await quick.stopDeployment({ deploymentId }).catch(() => undefined))?.detail;
      if (change) {
        set({ phase: "closing_change", percent: 90, message: `${why}; closing ${change.number}` });
        // Best effort: the close below carries the same words in close_notes.
        await quick
          .noteOnChange({ sysId: change.sysId, text: cancelled ? `Cancellation requested. ${stopped ?? ""}`.trim() : `Failure: ${why}` })
          .catch(() => undefined);
        await closing.closeChange({
          sysId: change.sysId,
          succeeded: false,
          cancelled,
          notes: cancelled
            ? `Cancelled by request${deploymentId ? ` while deployment ${deploymentId} was running. ${stopped ?? ""}` : " before anything was deployed."}`.trim()
            : `Deployment did not complete: ${why}`,
        });
      }
      set({ phase: "done", percent: 100, message: why });
    });
    if (cancelled) throw err;
    throw ApplicationFailure.create({
      type: "DeploymentFailed",
      message: why,
      nonRetryable: true,
      details: [{ ...base, outcome: "failed", message: why, changeNumber: change?.number, changeSysId: change?.sysId, deploymentId }],
    });
  }
}
