#!/usr/bin/env bash
# docker-compose (Debian's package) for examples/compose/compose.test.ts: `docker-compose config` checks
# docker-compose.yml without a container engine. Idempotent; needs root for apt-get on first use.
set -euo pipefail
command -v docker-compose >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update >/dev/null
apt-get install -y --no-install-recommends docker-compose >/dev/null
