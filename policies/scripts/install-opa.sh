#!/usr/bin/env bash
# Make the pinned OPA binary available (CI calls this before `opa test`, the bundle check and the
# sidecar tests). Idempotent: reuses $OPA_BIN, PATH or $TOOLS_DIR/bin/opa when the version matches.
# Prints the binary's path on stdout; cache $TOOLS_DIR (default <repo>/.cache/tools) between CI runs.
set -euo pipefail
. "$(dirname "$0")/opa-env.sh"

if opa_path="$(find_opa 2>/dev/null)"; then
  printf '%s\n' "$opa_path"
  exit 0
fi

command -v go >/dev/null || { echo "install-opa: go is required to build opa v$OPA_VERSION" >&2; exit 1; }
mkdir -p "$TOOLS_DIR/bin"
echo "install-opa: building opa v$OPA_VERSION into $TOOLS_DIR/bin" >&2
GOBIN="$TOOLS_DIR/bin" go install "github.com/open-policy-agent/opa@v$OPA_VERSION" >&2
"$TOOLS_DIR/bin/opa" version >&2
printf '%s\n' "$TOOLS_DIR/bin/opa"
