#!/usr/bin/env bash
# Keycloak for the opt-in suite (npm run test:keycloak): the Quarkus distribution from Maven Central
# (org.keycloak:keycloak-quarkus-dist, ~177 MB), unpacked into $TOOLS_DIR/keycloak. Needs Java 17+ and mvn.
# Idempotent; prints the Keycloak home directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
version="${KEYCLOAK_VERSION:-26.7.3}"
home="$TOOLS_DIR/keycloak/keycloak-$version"
if [ ! -x "$home/bin/kc.sh" ]; then
  command -v mvn >/dev/null || { echo "install-keycloak: mvn is required" >&2; exit 1; }
  command -v java >/dev/null || { echo "install-keycloak: Java 17+ is required" >&2; exit 1; }
  mkdir -p "$TOOLS_DIR/keycloak"
  mvn -q dependency:copy "-Dartifact=org.keycloak:keycloak-quarkus-dist:$version:zip" "-DoutputDirectory=$TOOLS_DIR/keycloak" >&2
  (cd "$TOOLS_DIR/keycloak" && unzip -q -o "keycloak-quarkus-dist-$version.zip")
fi
printf '%s\n' "$home"
