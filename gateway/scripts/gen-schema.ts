// Writes gateway/config.schema.json from the zod schema (run: npm run schema -w gateway; CI checks it is current).
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { configSchema } from "../src/config/schema.ts";

export function configJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
  return `${JSON.stringify({ ...schema, title: "MCP edge gateway configuration" }, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL("../config.schema.json", import.meta.url), configJsonSchema());
}
