#!/usr/bin/env bash
# Build the OpenBao server (`bao`) from the Go module proxy through the wrapper module in this
# folder, and install it as $TOOLS_DIR/bin/bao. Idempotent: a stamp next to the binary records the
# wrapper's go.mod/go.sum hash; when it matches and the binary runs, nothing is rebuilt.
# Used by CI and by the credentials tests (gateway/test/credentials/bao.ts finds the binary).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$(cd "$HERE/../.." && pwd)/.cache/tools}"
BIN_DIR="$TOOLS_DIR/bin"
OUT="$BIN_DIR/bao"
STAMP="$BIN_DIR/.bao.stamp"

# OpenBao v2.4.0 = commit f9407a27fbee (see go.mod).
BAO_VERSION="2.4.0"
BAO_COMMIT="f9407a27fbee45f62ba521bba2bf1e2360c61031"

want="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/cmd/bao/main.go" "$0" | sha256sum | cut -d' ' -f1)"
if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && "$OUT" version >/dev/null 2>&1; then
  echo "bao is up to date: $("$OUT" version) ($OUT)"
  exit 0
fi

command -v go >/dev/null || { echo "install-bao.sh: go is required (Go >= 1.24)" >&2; exit 1; }
mkdir -p "$BIN_DIR"

# -mod=mod: let the go command complete the module graph from OpenBao's own requirements.
# GONOSUMDB: the checksum database does not answer for these OpenBao-owned modules through our
# module proxy; their hashes are pinned in go.sum instead (committed), so they are still verified.
export GOFLAGS="-mod=mod"
export GONOSUMDB="github.com/openbao/go-kms-wrapping,github.com/openbao/openbao/api/auth"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

start=$(date +%s)
tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(
  cd "$HERE"
  go build -trimpath \
    -ldflags "-s -w -X github.com/openbao/openbao/version.fullVersion=$BAO_VERSION -X github.com/openbao/openbao/version.GitCommit=$BAO_COMMIT" \
    -o "$tmp" ./cmd/bao
)
mv -f "$tmp" "$OUT"
echo "$want" > "$STAMP"
echo "built $("$OUT" version) in $(( $(date +%s) - start ))s -> $OUT"
