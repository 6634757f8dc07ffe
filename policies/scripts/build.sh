#!/usr/bin/env bash
# Compile policies/rego to the committed wasm bundle (policies/bundle/bundle.tar.gz) with the pinned
# OPA. Deterministic: same sources + same OPA version → same bytes (OPA writes zero tar timestamps).
# Usage: build.sh [output.tar.gz]
set -euo pipefail
. "$(dirname "$0")/opa-env.sh"
opa="$(find_opa)"
out="${1:-$POLICIES_DIR/bundle/bundle.tar.gz}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

cd "$POLICIES_DIR"
# The revision names the sources (not the build), so decision logs can say which policy decided.
sources=$(find rego -type f \( -name '*.rego' ! -name '*_test.rego' -o -name '*.json' \) | LC_ALL=C sort)
revision="sha256:$(for f in $sources; do printf '%s\0' "$f"; cat "$f"; done | sha256sum | cut -c1-16)"

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$opa" build -t wasm -e mcp/authz/decision -e mcp/authz/filter \
  --ignore '*_test.rego' --revision "$revision" -o "$tmp" rego
# Rename into place so a gateway watching the file never loads a half-written bundle.
mv "$tmp" "$out"
echo "built $out (revision $revision)" >&2
