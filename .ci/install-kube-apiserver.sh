#!/usr/bin/env bash
# etcd (Debian apt) and kube-apiserver + kubectl v1.37.2 (built from the Go module proxy, cached in $TOOLS_DIR/bin)
# for the opt-in `npm run test:kube` suite. Opt-in on purpose: the cold build takes ~20 min on a busy 2-core machine. Not in
# tools.sh. Idempotent; prints the bin directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
KUBE_VERSION=1.37.2
mkdir -p "$TOOLS_DIR/bin"
command -v go >/dev/null || { echo "install-kube-apiserver: go is required" >&2; exit 1; }

if ! command -v etcd >/dev/null; then
  echo "install-kube-apiserver: installing etcd-server from apt" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq etcd-server >&2
  # The suite starts its own etcd on loopback with a temporary data dir; the distribution's service is not needed.
  $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
fi

# kubectl is built too (a few minutes more, most packages are shared): a kubectl from elsewhere may be more
# than one minor version away from the server, outside Kubernetes' supported skew.
stamp="$TOOLS_DIR/bin/.kube-apiserver-version"
want="kube-apiserver $KUBE_VERSION kubectl $KUBE_VERSION"
if [ ! -x "$TOOLS_DIR/bin/kube-apiserver" ] || [ ! -x "$TOOLS_DIR/bin/kubectl" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-kube-apiserver: building kube-apiserver and kubectl v$KUBE_VERSION (about 20 minutes once)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  # k8s.io/kubernetes is not meant to be a dependency: its go.mod points every k8s.io/* staging module at a
  # folder inside its own tree (`=> ./staging/src/...`), which a consumer cannot see. A wrapper module replaces
  # each of them with its published twin, v0.<minor>.<patch>, which is the same source.
  go mod init kube-apiserver-build >/dev/null 2>&1
  gomod="$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  staging_version="v0.${KUBE_VERSION#1.}"
  {
    printf 'require k8s.io/kubernetes v%s\n' "$KUBE_VERSION"
    printf 'replace (\n'
    sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*$|\t\1 => \1 '"$staging_version"'|p' "$gomod"
    printf ')\n'
  } >>go.mod
  # Blank imports of what the two commands import, so `go mod tidy` records every module they need.
  cat >main.go <<'EOF'
package main

import (
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {}
EOF
  GOFLAGS=-mod=mod go mod tidy >&2
  # The version the upstream build stamps, so `--version` reports the release rather than v0.0.0.
  minor="${KUBE_VERSION#1.}"
  minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  done
  GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$TOOLS_DIR/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl >&2
  printf '%s\n' "$want" >"$stamp"
fi
printf '%s\n' "$TOOLS_DIR/bin"
