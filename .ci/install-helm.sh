#!/usr/bin/env bash
# Helm, kubeconform and kubeconform's schemas for the chart check (.ci/helm-check.sh), all cached in $TOOLS_DIR:
# helm v3.22.0 and kubeconform v0.8.0 built from the Go module proxy (helm ~7 min cold); the schemas generated
# offline from the OpenAPI document inside the k8s.io/kubernetes module (deploy/helm/scripts/kube-schemas.ts).
# Idempotent; prints the schema directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
HELM_VERSION=3.22.0
KUBECONFORM_VERSION=0.8.0
KUBE_VERSION=1.37.2
mkdir -p "$TOOLS_DIR/bin"
command -v go >/dev/null || { echo "install-helm: go is required" >&2; exit 1; }
# `go install` stamps no version into either binary: a stamp file beside them says which one is there.
stamp="$TOOLS_DIR/bin/.helm-kubeconform-versions"
want="helm $HELM_VERSION kubeconform $KUBECONFORM_VERSION"
if [ ! -x "$TOOLS_DIR/bin/helm" ] || [ ! -x "$TOOLS_DIR/bin/kubeconform" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-helm: building helm v$HELM_VERSION and kubeconform v$KUBECONFORM_VERSION (several minutes once)" >&2
  GOBIN="$TOOLS_DIR/bin" go install "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >&2
  GOBIN="$TOOLS_DIR/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION" >&2
  printf '%s\n' "$want" >"$stamp"
fi
schemas="$TOOLS_DIR/kube-schemas"
# Regenerated when the generator changes.
gen_sha="$(sha256sum "$root/deploy/helm/scripts/kube-schemas.ts" | cut -c1-16)"
if [ "$(cat "$schemas/.generator" 2>/dev/null)" != "$KUBE_VERSION $gen_sha" ]; then
  dir="$(cd "$TOOLS_DIR" && go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).Dir))')"
  node "$root/deploy/helm/scripts/kube-schemas.ts" "$dir/api/openapi-spec/swagger.json" "$schemas" "$KUBE_VERSION" >&2
  printf '%s\n' "$KUBE_VERSION $gen_sha" >"$schemas/.generator"
fi
printf '%s\n' "$schemas"
