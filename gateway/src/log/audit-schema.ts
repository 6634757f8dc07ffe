// Config sub-schema of the audit sink (plugged into `telemetry.audit` by config/schema-telemetry.ts). It lives
// beside the sink because audit must work without OpenTelemetry; it imports only zod.

import { z } from "zod";
import { plain } from "../config/secret.ts";
import { compileJsonPath } from "./redact.ts";

export const jsonPathSchema = z.string().superRefine((p, ctx) => {
  try {
    compileJsonPath(p);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: e instanceof Error ? e.message : String(e) });
  }
});

export const auditSchema = z
  .object({
    enabled: z.boolean().default(true).describe("One audit record per relayed message"),
    sink: z.enum(["stdout", "file"]).default("stdout"),
    /** Required when sink is "file". May come from ${env:…} / ${file:…} (a path is not secret: plain string). */
    path: z.preprocess(plain, z.string().min(1)).optional(),
    /** Rotate the file when it would exceed this size (bytes). */
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .default(50 * 1024 * 1024),
    /** Rotated files kept (path.1 … path.N). */
    maxFiles: z.number().int().min(1).max(100).default(5),
    /** Record tools/call and prompts/get arguments (redacted by `redact`). Off by default: arguments may hold personal data. */
    recordArguments: z.boolean().default(false),
    /** Record results (redacted by `redact`). Off by default. */
    recordResults: z.boolean().default(false),
    /** JSON paths to hide in recorded arguments/results, rooted at the record: "$.arguments.password", "$..ssn". */
    redact: z.array(jsonPathSchema).default([]),
    /** Cap on one recorded arguments/result value (characters of JSON). */
    maxValueChars: z.number().int().min(64).default(8192),
    /**
     * Longest a record waits in memory before its batch is written (ms; 64 KiB queued writes at once). A crash
     * of the process loses at most this much; 0 writes once per event-loop turn (more system calls).
     */
    flushIntervalMs: z.number().int().min(0).max(10_000).default(20),
    /** Methods not recorded (chatty, carry no decision). */
    excludeMethods: z.array(z.string()).default(["notifications/progress"]),
  })
  .strict()
  .refine((a) => a.sink !== "file" || a.path !== undefined, {
    message: 'audit.path is required when audit.sink is "file"',
    path: ["path"],
  });

export type AuditConfig = z.output<typeof auditSchema>;
