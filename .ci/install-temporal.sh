#!/usr/bin/env bash
# The Temporal Java test server (io.temporal:temporal-test-server, time-skipping) and its dependencies,
# copied from Maven Central into $TOOLS_DIR/temporal-test-server/lib for the workflow tests. Idempotent:
# a stamp file names the version that is complete; nothing is fetched when it matches.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${TOOLS_DIR:-$root/.cache/tools}"
TEMPORAL_TEST_SERVER_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.38.0}"
dest="$TOOLS_DIR/temporal-test-server"
stamp="$dest/lib/.complete-$TEMPORAL_TEST_SERVER_VERSION"

if [ -f "$stamp" ]; then
  printf '%s\n' "$dest"
  exit 0
fi
# Java 17+ runs the server, Maven fetches it: from apt when missing (a clean CI machine).
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  fi
fi
# The tests run the server in a private network namespace: unshare (util-linux) and ip (iproute2).
if ! command -v ip >/dev/null && [ ! -x /usr/sbin/ip ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi
command -v java >/dev/null || { echo "install-temporal: java (17+) is required to run the Temporal test server" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-temporal: mvn is required to fetch io.temporal:temporal-test-server" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A throwaway POM whose only dependency is the test server: copy-dependencies then resolves its whole
# runtime classpath (grpc, protobuf, the SDK) the same way a Java project would.
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mcp-edge</groupId>
  <artifactId>temporal-test-server-fetch</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.temporal</groupId>
      <artifactId>temporal-test-server</artifactId>
      <version>$TEMPORAL_TEST_SERVER_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
echo "install-temporal: fetching io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION into $dest/lib" >&2
rm -rf "$dest/lib.partial"
mkdir -p "$dest"
mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$dest/lib.partial" >&2
rm -rf "$dest/lib"
mv "$dest/lib.partial" "$dest/lib"
touch "$stamp"
printf '%s\n' "$dest"
