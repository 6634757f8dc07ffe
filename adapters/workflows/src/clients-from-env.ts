// Builds the ServiceNow and Catalyst Center clients of the worker from its environment, the same
// variables the two adapters read (docs/long-running-work.md). Secrets come only from here, never
// from workflow inputs: a workflow's history is readable by whoever can read Temporal.

import { CatalystCenterClient } from "@mcp-edge/adapter-catalyst-center";
import { type ServiceNowAuth, ServiceNowClient } from "@mcp-edge/adapter-servicenow";
import type { ActivityDeps } from "./deploy-activities.ts";

function need(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

export function serviceNowAuthFromEnv(env: NodeJS.ProcessEnv): ServiceNowAuth {
  if (env.SERVICENOW_CLIENT_ID) {
    return env.SERVICENOW_USERNAME
      ? {
          kind: "oauth",
          grant: "password",
          clientId: env.SERVICENOW_CLIENT_ID,
          clientSecret: need(env, "SERVICENOW_CLIENT_SECRET"),
          username: env.SERVICENOW_USERNAME,
          password: need(env, "SERVICENOW_PASSWORD"),
        }
      : {
          kind: "oauth",
          grant: "client_credentials",
          clientId: env.SERVICENOW_CLIENT_ID,
          clientSecret: need(env, "SERVICENOW_CLIENT_SECRET"),
        };
  }
  return { kind: "basic", username: need(env, "SERVICENOW_USERNAME"), password: need(env, "SERVICENOW_PASSWORD") };
}

export function clientsFromEnv(env: NodeJS.ProcessEnv = process.env): ActivityDeps {
  const changes = new ServiceNowClient({ baseUrl: need(env, "SERVICENOW_URL"), auth: serviceNowAuthFromEnv(env) });
  const deployments = new CatalystCenterClient({
    baseUrl: need(env, "CATALYST_CENTER_URL"),
    username: need(env, "CATALYST_CENTER_USERNAME"),
    password: need(env, "CATALYST_CENTER_PASSWORD"),
  });
  return { changes, deployments };
}
