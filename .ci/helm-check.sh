#!/usr/bin/env bash
# The Helm chart: helm lint --strict (default and full values), helm template of both, kubeconform -strict of
# the rendered manifests against Kubernetes 1.37.2's own schemas, and `mcp-gateway validate` of the gateway
# config each rendering puts in its ConfigMap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
schemas="$(bash "$root/.ci/install-helm.sh")"
helm="$TOOLS_DIR/bin/helm"
chart="$root/deploy/helm/mcp-gateway"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export HELM_CACHE_HOME="$work/cache" HELM_CONFIG_HOME="$work/config" HELM_DATA_HOME="$work/data"
for values in default "$chart/ci/full-values.yaml"; do
  name="$(basename "$values" .yaml)"
  args=()
  [ "$values" = default ] || args=(-f "$values")
  "$helm" lint --strict --kube-version 1.37.2 "$chart" "${args[@]}"
  "$helm" template mcp "$chart" --namespace edge --kube-version 1.37.2 "${args[@]}" >"$work/$name.yaml"
  "$TOOLS_DIR/bin/kubeconform" -strict -summary -kubernetes-version 1.37.2 \
    -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$work/$name.yaml"
  # The ConfigMap's gateway.yaml is a valid gateway config.
  node -e '
    const y = require("yaml"); const fs = require("fs");
    const cm = y.parseAllDocuments(fs.readFileSync(process.argv[1], "utf8")).map(d => d.toJS()).find(d => d && d.kind === "ConfigMap");
    fs.writeFileSync(process.argv[2], cm.data["gateway.yaml"]);' "$work/$name.yaml" "$work/$name-gateway.yaml"
  MCP_GATEWAY_SESSION_KEY=helm-check-session-key-0123456789abcdef SERVICENOW_URL=http://servicenow-adapter:3000/mcp \
    node "$root/gateway/src/cli.ts" validate --config "$work/$name-gateway.yaml"
done
# kubeconform is really strict: an unknown field in a Deployment is refused.
sed 's/^spec:$/spec:\n  replicass: 2/' "$work/default.yaml" >"$work/typo.yaml"
if "$TOOLS_DIR/bin/kubeconform" -strict -kubernetes-version 1.37.2 \
  -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  "$work/typo.yaml" >/dev/null 2>&1; then
  echo "helm-check: kubeconform accepted an unknown field" >&2
  exit 1
fi
echo "helm-check: ok"
