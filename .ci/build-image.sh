#!/usr/bin/env bash
# The container image, as far as a machine without a container engine can check it: hadolint on the
# Dockerfile, then the build stage's own command (deploy/docker/build-app.sh) on a copy of the build
# context, then the result run the way the image runs it (production dependencies only, node dist/cli.js):
# validate, start, /readyz on the admin port, SIGTERM drains and exits 0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
cd "$root"
bash .ci/install-hadolint.sh
"$TOOLS_DIR/bin/hadolint" Dockerfile

work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# The build context: what `COPY . .` sees (tracked and new files; .dockerignore excludes the same as .gitignore and .git).
mkdir -p "$work/context"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/context" 2>/dev/null || true
(cd "$work/context" && rm -rf .git && bash deploy/docker/build-app.sh "$work/app")

app="$work/app"
for dev in typescript vitest @biomejs/biome; do
  if [ -e "$app/node_modules/$dev" ]; then echo "build-image: dev dependency $dev in the image" >&2; exit 1; fi
done
cat > "$work/gateway.yaml" <<'YAML'
listen: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
sessions: { key: image-smoke-test-session-key-0123456789 }
telemetry: { enabled: true, otlp: { traces: false, metrics: false }, prometheus: { enabled: true } }
servers:
  backend: { url: "http://127.0.0.1:9/mcp" }
YAML
(cd / && node "$app/gateway/dist/cli.js" validate --config "$work/gateway.yaml")
(cd / && exec node "$app/gateway/dist/cli.js" --config "$work/gateway.yaml") >"$work/out.log" 2>&1 &
pid=$!
admin=""
for _ in $(seq 1 600); do
  # One line per worker process (the default is a worker per core): the first is enough, they share the port.
  admin="$(sed -n 's/^admin (healthz, readyz, metrics, config) on \(http:[^ ]*\).*/\1/p' "$work/out.log" | head -n 1)"
  [ -n "$admin" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/out.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$admin" ] || { echo "build-image: the gateway did not start" >&2; cat "$work/out.log" >&2; exit 1; }
node -e "fetch('$admin/readyz').then(r=>{if(!r.ok)process.exit(1)})"
# OpenTelemetry loads from the production dependencies (telemetry is loaded only when enabled).
node -e "fetch('$admin/metrics').then(async r=>{if(!r.ok||!(await r.text()).includes('# HELP'))process.exit(1)})"
kill -TERM "$pid"
wait "$pid"
pid=""
echo "build-image: ok (hadolint clean; $(du -sh "$app" | cut -f1) app; validate, start, readyz, metrics, SIGTERM exit 0)"
