#!/usr/bin/env bash
# The Temporal CLI (`temporal server start-dev`: a real Temporal server with SQLite) for the opt-in suite,
# built from the Go module proxy into $TOOLS_DIR/bin. 20+ minutes cold, cached after. Prints its path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
# The newest release whose go.mod has no replace directive (go install refuses those).
TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-1.5.1}"
bin="$TOOLS_DIR/bin/temporal"
# `go install` builds report "0.0.0-DEV": a stamp beside the binary names the version it was built from.
stamp="$TOOLS_DIR/bin/.temporal-cli-$TEMPORAL_CLI_VERSION"
if [ -x "$bin" ] && [ -f "$stamp" ]; then
  printf '%s\n' "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "install-temporal-cli: go is required to build temporal v$TEMPORAL_CLI_VERSION" >&2; exit 1; }
mkdir -p "$TOOLS_DIR/bin"
echo "install-temporal-cli: building temporal v$TEMPORAL_CLI_VERSION into $TOOLS_DIR/bin (slow the first time)" >&2
GOBIN="$TOOLS_DIR/bin" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" >&2
touch "$stamp"
printf '%s\n' "$bin"
