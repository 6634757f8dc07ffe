// The adapter's options (YAML/JSON config or the programmatic API), validated once by zod at start;
// everything after reads the parsed, defaulted object.

import { z } from "zod";
import { AdapterError } from "./errors.ts";

const selector = z
  .object({
    tags: z.array(z.string()).optional(),
    operationIds: z.array(z.string()).optional(),
    /** Globs on the path template: `*` within one segment, `**` across segments. */
    paths: z.array(z.string()).optional(),
    methods: z.array(z.string().transform((m) => m.toUpperCase())).optional(),
  })
  .strict();

const annotations = z
  .object({
    readOnlyHint: z.boolean().optional(),
    destructiveHint: z.boolean().optional(),
    idempotentHint: z.boolean().optional(),
    openWorldHint: z.boolean().optional(),
  })
  .strict();

/** Where a security scheme's value comes from: a header the gateway injects, or the environment (stdio). */
const credentialSource = z
  .object({
    fromHeader: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "an HTTP header name")
      .transform((h) => h.toLowerCase())
      .optional(),
    fromEnv: z.string().min(1).optional(),
    /** Put in front of the value when sending it (e.g. "Bearer " when the gateway injects a bare token). */
    prefix: z.string().optional(),
  })
  .strict();

export const adapterOptionsSchema = z
  .object({
    include: selector.optional(),
    exclude: selector.optional(),
    /** Keep only GET, HEAD and OPTIONS operations. */
    readOnly: z.boolean().default(false),
    names: z.enum(["operationId-or-path", "operationId", "path"]).default("operationId-or-path"),
    /** Tool name per operation, keyed by operationId or "METHOD /path". */
    toolNames: z.record(z.string(), z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "1-64 of A-Z a-z 0-9 _ - .")).default({}),
    /** Annotation overrides per operation, keyed by operationId or "METHOD /path". */
    annotations: z.record(z.string(), annotations).default({}),
    maxDescription: z.number().int().min(0).default(1024),
    /** Nested $ref expansions on one path before a schema is left open; recursion is always cut. */
    maxRefDepth: z.number().int().min(1).max(64).default(12),
    security: z.record(z.string(), credentialSource).default({}),
    /** Refuse to start when a scheme that operations need has no source (default: report it). */
    strictSecurity: z.boolean().default(false),
    /** Overrides the document's first `servers` entry. */
    baseUrl: z.url().optional(),
    timeoutMs: z.number().int().min(1).default(30_000),
    /** Extra attempts for idempotent operations on 5xx, 429, timeouts and connection failures. */
    retries: z.number().int().min(0).max(10).default(2),
    /** Longest Retry-After honoured; a longer one ends the retries. */
    maxRetryAfterMs: z.number().int().min(0).default(10_000),
    /** Answers larger than this are truncated, with a note saying so. */
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    /** `lenient` (default) drops `required` and `additionalProperties: false` from output schemas; `none` declares none. */
    outputSchemas: z.enum(["lenient", "declared", "none"]).default("lenient"),
    /** Check JSON answers against the declared response schema before returning them as structuredContent. */
    checkOutput: z.boolean().default(true),
    /** Validate the document against the OpenAPI specification at start. */
    validateDocument: z.boolean().default(true),
  })
  .strict();

export type AdapterOptionsInput = z.input<typeof adapterOptionsSchema>;
export type AdapterOptions = z.output<typeof adapterOptionsSchema>;
export type CredentialSource = z.output<typeof credentialSource>;

/** Parses options; a bad one fails with OPENAPI_BAD_OPTIONS naming the field's path. */
export function parseOptions(input: unknown): AdapterOptions {
  const r = adapterOptionsSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  throw new AdapterError("OPENAPI_BAD_OPTIONS", `${first.path.join(".") || "(root)"}: ${first.message}`);
}
