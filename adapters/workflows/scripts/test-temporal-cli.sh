#!/usr/bin/env bash
# Opt-in suite: the workflow tests against a real Temporal server (`temporal server start-dev`, SQLite,
# loopback only) instead of the Java test server. Run from anywhere: bash adapters/workflows/scripts/test-temporal-cli.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
temporal="$(bash "$root/adapters/workflows/scripts/install-temporal-cli.sh")"
work="$(mktemp -d)"
# Three free loopback ports: gRPC frontend, HTTP API, metrics (all bound to 127.0.0.1 by --ip).
read -r port http_port metrics_port < <(node -e '
  const net = require("net"); const ports = [];
  const next = () => { const s = net.createServer().listen(0, "127.0.0.1", () => { ports.push(s.address().port); s.close(() => ports.length < 3 ? next() : console.log(ports.join(" "))); }); };
  next();')
"$temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" --http-port "$http_port" --metrics-port "$metrics_port" \
  --db-filename "$work/temporal.db" --log-level warn > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  if "$temporal" operator cluster health --address "127.0.0.1:$port" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
"$temporal" operator cluster health --address "127.0.0.1:$port" >/dev/null || { cat "$work/server.log" >&2; exit 1; }
cd "$root"
WORKFLOWS_TEMPORAL_ADDRESS="127.0.0.1:$port" npx vitest run adapters/workflows/test "$@"
