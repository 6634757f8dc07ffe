// CI: the committed generated files (config JSON Schema, error table in docs/errors.md) are current.
import { readFileSync } from "node:fs";
import { DOC, withTable } from "./gen-errors-doc.ts";
import { configJsonSchema } from "./gen-schema.ts";

let ok = true;
if (readFileSync(new URL("../config.schema.json", import.meta.url), "utf8") !== configJsonSchema()) {
  console.error("gateway/config.schema.json is stale: run node gateway/scripts/gen-schema.ts");
  ok = false;
}
const doc = readFileSync(DOC, "utf8");
if (doc !== withTable(doc)) {
  console.error("docs/errors.md is stale: run node gateway/scripts/gen-errors-doc.ts");
  ok = false;
}
process.exit(ok ? 0 : 1);
