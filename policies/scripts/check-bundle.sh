#!/usr/bin/env bash
# Fail when the committed bundle does not match the Rego sources: rebuild into a temp dir and
# compare the extracted files (policy.wasm, data.json, .manifest, sources), not the tar bytes.
set -euo pipefail
. "$(dirname "$0")/opa-env.sh"
committed="${1:-$POLICIES_DIR/bundle/bundle.tar.gz}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

[ -f "$committed" ] || { echo "check-bundle: $committed is missing; run policies/scripts/build.sh" >&2; exit 1; }
"$(dirname "$0")/build.sh" "$tmp/fresh.tar.gz" 2>/dev/null
mkdir "$tmp/a" "$tmp/b"
tar -xzf "$committed" -C "$tmp/a" 2>/dev/null
tar -xzf "$tmp/fresh.tar.gz" -C "$tmp/b" 2>/dev/null
if ! diff -r "$tmp/a" "$tmp/b" >"$tmp/diff" 2>&1; then
  echo "check-bundle: $committed does not match policies/rego (built with opa v$OPA_VERSION):" >&2
  cat "$tmp/diff" >&2
  echo "run policies/scripts/build.sh and commit policies/bundle/bundle.tar.gz" >&2
  exit 1
fi
echo "check-bundle: $committed matches the sources" >&2
