#!/usr/bin/env bash
# Build the runnable gateway into OUT (the image's /app): npm ci, compile gateway/ (tsc → dist/ + the default
# policy bundle), then a copy holding only the compiled output and production dependencies (npm ci --omit=dev
# -w gateway against the same lock file). The Dockerfile's build stage and CI (.ci/build-image.sh) run this.
set -euo pipefail
out="${1:?usage: build-app.sh OUT_DIR}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$src"
npm ci --no-audit --no-fund --loglevel=error
npm run build -w gateway >/dev/null

rm -rf "$out"
mkdir -p "$out"
cp package.json package-lock.json "$out/"
# npm ci checks every workspace the lock names: their package.json files, nothing else of them.
while IFS= read -r pj; do
  mkdir -p "$out/$(dirname "$pj")"
  cp "$pj" "$out/$pj"
done < <(git ls-files '*package.json' 2>/dev/null | grep -v '^package.json$' || find . -name package.json -not -path '*/node_modules/*' -not -path './package.json' | sed 's#^\./##')
cp -R gateway/dist "$out/gateway/dist"
cp gateway/config.schema.json "$out/gateway/"
(cd "$out" && npm ci --omit=dev -w gateway --ignore-scripts --no-audit --no-fund --loglevel=error)
# Nothing of npm's own is needed at run time.
rm -rf "$out/node_modules/.package-lock.json"
echo "build-app: $(du -sh "$out" | cut -f1) in $out"
