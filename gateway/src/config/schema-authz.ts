// Config sub-schema of the `authz` block (engine, decision cache, decision log, shadow policy) and of
// the per-server `servers.<name>.authz` block (tool → action). The main schema plugs both in.

import { z } from "zod";
import { plain, secret } from "./secret.ts";

const str = () => z.preprocess(plain, z.string());
// schema.ts imports this file (ESM cycle): `secret` is uninitialised while this module evaluates,
// so the call is deferred to parse time.
const secretField = () => z.lazy(() => secret());
const httpUrl = () => str().pipe(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }));

export const authzActionSchema = z.enum(["read", "write", "execute"]);

export const wasmEngineSchema = z
  .object({
    type: z.literal("wasm"),
    /** Bundle built by policies/scripts/build.sh. Default: the committed policies/bundle/bundle.tar.gz. */
    bundle: str().optional(),
    /** Hot-reload the bundle when the file changes; a bundle that fails to load keeps the last good one. */
    watch: z.boolean().default(true),
    debounceMs: z.number().int().min(0).max(10_000).default(100),
  })
  .strict();

export const sidecarEngineSchema = z
  .object({
    type: z.literal("sidecar"),
    /** OPA server base URL; the gateway POSTs /v1/data/mcp/authz/decision and /v1/data/mcp/authz/filter. */
    url: httpUrl(),
    /** Budget per decision; past it the request is denied with AUTHZ_UNAVAILABLE. */
    timeoutMs: z.number().int().min(1).max(60_000).default(500),
    /** Keep-alive connections to OPA. */
    connections: z.number().int().min(1).max(1024).default(8),
    /** Bearer token when OPA runs with --authentication=token. */
    token: secretField().optional(),
    /** Label logged as the policy revision (OPA owns its bundles). */
    revision: z.string().optional(),
  })
  .strict();

export const authzEngineSchema = z.discriminatedUnion("type", [wasmEngineSchema, sidecarEngineSchema], {
  error: 'expected { type: "wasm", bundle? } or { type: "sidecar", url }',
});

export const authzSchema = z
  .object({
    engine: authzEngineSchema.default({ type: "wasm", watch: true, debounceMs: 100 }),
    cache: z
      .object({
        /** Decision cache TTL; 0 disables. Also bounds how stale input.request.time can be (it is not in the key). */
        ttlMs: z.number().int().min(0).max(300_000).default(2000),
        max: z.number().int().min(1).default(10_000),
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 * 1024 * 1024),
      })
      .strict()
      .default({ ttlMs: 2000, max: 10_000, maxBytes: 16 * 1024 * 1024 }),
    decisionLog: z
      .object({
        enabled: z.boolean().default(true),
        /** Log tools/call and prompts/get arguments (after redaction). */
        includeArguments: z.boolean().default(false),
        /** Log subject.claims. */
        includeClaims: z.boolean().default(false),
        /** JSON pointers under /input/arguments masked in the log, e.g. "/input/arguments/body/password". */
        redact: z.array(z.string().regex(/^\/input\/arguments\//, "redact paths start with /input/arguments/")).default([]),
        /** Argument keys (any depth, case-insensitive regex) masked in the log; "" disables. Default covers password/secret/token/api key. */
        redactKeys: z
          .string()
          .refine((s) => {
            try {
              new RegExp(s, "i");
              return true;
            } catch {
              return false;
            }
          }, "not a valid regular expression")
          .optional(),
        /** Extra labels on every record (OPA decision-log `labels`). */
        labels: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .default({ enabled: true, includeArguments: false, includeClaims: false, redact: [], labels: {} }),
    /** Candidate policy evaluated beside the enforced one; disagreements are logged, never enforced. */
    shadow: authzEngineSchema.optional(),
  })
  .strict();

/** servers.<name>.authz */
export const serverAuthzSchema = z
  .object({
    /** tool name → action; wins over the tool's annotations. */
    actions: z.record(z.string(), authzActionSchema).default({}),
    /** Action of a tool neither configured nor seen in a tools/list (annotations unknown). */
    defaultAction: authzActionSchema.default("execute"),
    /** Derive actions from the backend's tool annotations (readOnlyHint → read, destructiveHint → write). */
    trustAnnotations: z.boolean().default(true),
  })
  .strict();

export type AuthzConfig = z.output<typeof authzSchema>;
export type AuthzEngineConfig = z.output<typeof authzEngineSchema>;
export type ServerAuthzConfig = z.output<typeof serverAuthzSchema>;
