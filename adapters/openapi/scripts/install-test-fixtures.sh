#!/usr/bin/env bash
# Test-only components of the OpenAPI adapter, cached in .cache (never root dependencies):
# GitHub's REST description (one 13 MB file out of @octokit/openapi, whose package is ~385 MB unpacked)
# and the Prism mock server (@stoplight/prism-cli, needs Node >= 24.18). Idempotent and quiet when cached.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cache="$root/.cache/openapi-fixtures"
OCTOKIT_OPENAPI_VERSION=23.0.2
PRISM_VERSION=5.16.0
mkdir -p "$cache"
if [ ! -s "$cache/github-$OCTOKIT_OPENAPI_VERSION/api.github.com.json" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@octokit/openapi@$OCTOKIT_OPENAPI_VERSION" >/dev/null)
  mkdir -p "$cache/github-$OCTOKIT_OPENAPI_VERSION"
  # Only the description of api.github.com and the package's license (MIT).
  tar -xzf "$tmp"/octokit-openapi-*.tgz -C "$tmp" package/generated/api.github.com.json package/LICENSE
  mv "$tmp/package/LICENSE" "$cache/github-$OCTOKIT_OPENAPI_VERSION/LICENSE"
  mv "$tmp/package/generated/api.github.com.json" "$cache/github-$OCTOKIT_OPENAPI_VERSION/api.github.com.json"
fi
prism="$cache/prism-$PRISM_VERSION"
if [ ! -x "$prism/node_modules/.bin/prism" ]; then
  mkdir -p "$prism"
  # Its own package.json, or npm would install into the repository's workspaces.
  echo '{"name":"openapi-fixtures-prism","private":true}' > "$prism/package.json"
  (cd "$prism" && npm install --no-audit --no-fund --loglevel=error "@stoplight/prism-cli@$PRISM_VERSION" >/dev/null)
fi
