#!/usr/bin/env bash
# OpenSSH's sshd for the devices adapter's tests (adapters/devices/test/sshd.ts starts its own sshd on
# 127.0.0.1 with a temp config; nothing is enabled as a service). Idempotent: skipped when installed.
set -euo pipefail
if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
fi
command -v ssh-keygen >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-client >/dev/null; }
# Privilege separation directory sshd needs when started as root (the package's service creates it).
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi
