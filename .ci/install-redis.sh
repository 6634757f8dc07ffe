#!/usr/bin/env bash
# redis-server from apt, for the tests of shared session revocations and the limits stage's shared
# token buckets (gateway/test/hardening). Idempotent: nothing happens when it is already installed.
set -euo pipefail
if command -v redis-server >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq redis-server >/dev/null
# The tests start their own servers on private unix sockets; the distribution's service is not needed.
$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
