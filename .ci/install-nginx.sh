#!/usr/bin/env bash
# nginx from apt (Debian's nginx-light is enough): the plain proxy hop the full-pipeline bench compares the
# gateway with (bench/full.ts, scenario "nginx"), also run by its smoke test. Idempotent; the distribution's
# service is not used (the bench starts its own single-process nginx on a loopback port).
set -euo pipefail
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq nginx-light >/dev/null 2>&1 || $sudo apt-get install -y -qq nginx >/dev/null
$sudo systemctl disable --now nginx >/dev/null 2>&1 || true
$sudo service nginx stop >/dev/null 2>&1 || true
