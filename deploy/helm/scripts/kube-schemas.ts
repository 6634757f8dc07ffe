// Generate kubeconform's schemas offline from Kubernetes' own OpenAPI v2 document (api/openapi-spec/swagger.json
// of the k8s.io/kubernetes Go module): `{out}/v{version}-standalone-strict/{kind}-{group}-{version}.json`, each a
// $ref into one `_definitions.json` whose objects forbid unknown fields (strict), as kubeconform -strict expects.
//   node deploy/helm/scripts/kube-schemas.ts <swagger.json> <out-dir> <kubernetes-version>

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

type Schema = Record<string, unknown>;
const [swaggerPath, outDir, version] = process.argv.slice(2);
if (!swaggerPath || !outDir || !version) {
  process.stderr.write("usage: kube-schemas.ts <swagger.json> <out-dir> <kubernetes-version>\n");
  process.exit(2);
}
const swagger = JSON.parse(readFileSync(swaggerPath, "utf8")) as { definitions: Record<string, Schema> };

/** Strict: an object schema with properties admits no others (what openapi2jsonschema --strict does). */
function strict(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(strict);
  if (!s || typeof s !== "object") return s;
  const o: Schema = {};
  for (const [k, v] of Object.entries(s as Schema))
    o[k] = k === "properties" ? Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, strict(ps)])) : strict(v);
  if (o.properties && o.additionalProperties === undefined) o.additionalProperties = false;
  // int-or-string fields carry no type in the OpenAPI document; JSON Schema must allow both.
  if (o.format === "int-or-string") {
    const { type: _type, format: _format, ...rest } = o;
    return { ...rest, oneOf: [{ type: "string" }, { type: "integer" }] };
  }
  return o;
}

const definitions: Record<string, unknown> = {};
for (const [name, def] of Object.entries(swagger.definitions)) definitions[name] = strict(def);
// Quantities ("100m", 2, "1Gi") are strings or numbers in manifests.
definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = { oneOf: [{ type: "string" }, { type: "number" }] };

const dir = join(outDir, `v${version.replace(/^v/, "")}-standalone-strict`);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "_definitions.json"), JSON.stringify({ definitions }));
let n = 0;
for (const [name, def] of Object.entries(swagger.definitions)) {
  const gvks = def["x-kubernetes-group-version-kind"] as Array<{ group: string; version: string; kind: string }> | undefined;
  // Types listed under many kinds (DeleteOptions, WatchEvent) are not resources.
  const gvk = gvks?.length === 1 ? gvks[0] : undefined;
  if (!gvk) continue;
  const { group, version: v, kind } = gvk;
  // kubeconform's file name: kind, then the first label of the group, then the version (core: kind-version).
  const suffix = group ? `-${group.split(".")[0]!.toLowerCase()}-${v.toLowerCase()}` : `-${v.toLowerCase()}`;
  writeFileSync(join(dir, `${kind.toLowerCase()}${suffix}.json`), JSON.stringify({ $ref: `_definitions.json#/definitions/${name}` }));
  n++;
}
process.stdout.write(`kube-schemas: ${n} kinds of Kubernetes ${version} in ${dir}\n`);
