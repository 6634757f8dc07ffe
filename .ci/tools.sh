#!/usr/bin/env bash
# Real components the test suite runs against, built from the Go module proxy and cached in
# .cache/tools/bin (TOOLS_DIR): the OPA binary (policy tests, wasm bundle check, sidecar tests),
# OpenBao's `bao` (a real Vault-API server for the credentials tests) and otelcol-mcp (an OpenTelemetry
# Collector with the components of otel/collector.yaml). Idempotent and quiet when cached.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
mkdir -p "$TOOLS_DIR/bin"
if ! command -v go >/dev/null; then
  echo "tools: Go is needed once to build opa, bao and otelcol-mcp into $TOOLS_DIR/bin (not found on PATH)" >&2
  exit 1
fi
bash "$root/policies/scripts/install-opa.sh" >/dev/null
bash "$root/tools/openbao/install-bao.sh" >/dev/null
bash "$root/otel/scripts/install-otelcol.sh" >/dev/null
bash "$root/.ci/install-temporal.sh" >/dev/null
bash "$root/.ci/install-sshd.sh" >/dev/null
bash "$root/adapters/openapi/scripts/install-test-fixtures.sh" >/dev/null
bash "$root/.ci/install-python-mcp.sh" >/dev/null
bash "$root/.ci/install-redis.sh" >/dev/null
bash "$root/.ci/install-nginx.sh" >/dev/null
bash "$root/.ci/install-docker-compose.sh" >/dev/null
