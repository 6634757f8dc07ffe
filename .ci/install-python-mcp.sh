#!/usr/bin/env bash
# The official MCP Python SDK (PyPI `mcp`), pinned, in a venv under .cache/python-mcp: a real third-party
# server and client for the relay tests (gateway/test/relay-python.test.ts). Idempotent and quiet when
# cached; without python3 it says so and exits 0 (the tests then skip with that message).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="2.3.0"
venv="${PYTHON_MCP_VENV:-$root/.cache/python-mcp}"
if ! command -v python3 >/dev/null; then
  echo "python-mcp: python3 not found; the Python SDK tests will be skipped" >&2
  exit 0
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$version')" 2>/dev/null; then
  exit 0
fi
mkdir -p "$(dirname "$venv")"
# One installer at a time (worktrees may share .cache).
exec 9>"$(dirname "$venv")/.python-mcp.lock"
flock 9
rm -rf "$venv.tmp"
python3 -m venv "$venv.tmp"
"$venv.tmp/bin/python" -m pip install --quiet --disable-pip-version-check "mcp==$version" "uvicorn"
rm -rf "$venv"
mv "$venv.tmp" "$venv"
# The venv's scripts name the directory they were made in; the interpreter itself is all the tests use.
echo "python-mcp: mcp $version in $venv" >&2
