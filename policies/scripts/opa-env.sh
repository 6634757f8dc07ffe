# Sourced by the other scripts: the pinned OPA version and how to find the binary.
# Lookup order: $OPA_BIN, `opa` on PATH, $TOOLS_DIR/bin/opa (default <repo>/.cache/tools).

OPA_VERSION="1.22.2"
POLICIES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$POLICIES_DIR/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$REPO_DIR/.cache/tools}"

# Print "1.22.2" for a given opa binary, or nothing.
opa_version_of() {
  "$1" version 2>/dev/null | sed -n 's/^Version: //p'
}

# Print the path of an opa binary of the pinned version, or fail.
find_opa() {
  local c
  for c in "${OPA_BIN:-}" "$(command -v opa 2>/dev/null || true)" "$TOOLS_DIR/bin/opa"; do
    if [ -n "$c" ] && [ -x "$c" ] && [ "$(opa_version_of "$c")" = "$OPA_VERSION" ]; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  echo "opa v$OPA_VERSION not found (tried \$OPA_BIN, PATH, $TOOLS_DIR/bin/opa); run policies/scripts/install-opa.sh" >&2
  return 1
}
