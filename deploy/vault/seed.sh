#!/bin/sh
# One-shot seed of a Vault / OpenBao server for examples/compose/gateway.yaml: the backend credentials the
# gateway injects (KV v2: secret/demo key "token"; secret/platform/servicenow, …/catalyst-center and
# …/devices keys "username" and "password", the compose fakes' accounts by default; secret/platform/github key
# "token", a placeholder: put your own token there), a read-only policy for them, and the gateway's AppRole.
# Writes the AppRole's role-id and secret-id into $SEED_OUT (a volume the gateway mounts read-only).
# Needs VAULT_ADDR and a token allowed to configure (VAULT_TOKEN); VAULT_CLI picks the client (vault or bao).
# Idempotent: a second run updates the secret and issues a new secret-id.
set -eu
: "${VAULT_ADDR:?VAULT_ADDR is required}"
: "${VAULT_TOKEN:?VAULT_TOKEN is required}"
cli="${VAULT_CLI:-vault}"
out="${SEED_OUT:-/seed}"
mount="${SEED_KV_MOUNT:-secret}"
mkdir -p "$out"

# Wait for the server (a compose dependency may start before it listens); bounded.
i=0
until "$cli" status >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -le 60 ] || { echo "seed: $VAULT_ADDR is not answering" >&2; exit 1; }
  sleep 1
done

# KV v2 at $mount (dev servers have secret/ already).
"$cli" secrets list -format=json | grep -q "\"$mount/\"" || "$cli" secrets enable -path="$mount" -version=2 kv
"$cli" kv put -mount="$mount" demo token="${DEMO_BACKEND_TOKEN:-demo-backend-token}" >/dev/null
# The adapters' backend accounts (defaults: the fakes' own users; adapters/*/README.md).
"$cli" kv put -mount="$mount" platform/servicenow \
  username="${SERVICENOW_USERNAME:-itil.agent}" password="${SERVICENOW_PASSWORD:-itil-password}" >/dev/null
"$cli" kv put -mount="$mount" platform/catalyst-center \
  username="${CATALYST_CENTER_USERNAME:-admin}" password="${CATALYST_CENTER_PASSWORD:-admin-password}" >/dev/null
"$cli" kv put -mount="$mount" platform/devices \
  username="${DEVICE_USERNAME:-netops}" password="${DEVICE_PASSWORD:-netops-dev-password}" >/dev/null
# A placeholder the GitHub API refuses (401): replace it with a real token, e.g.
#   vault kv put -mount=secret platform/github token=github_pat_…
# A later run of this script keeps a token already there unless GITHUB_TOKEN is given.
if [ -n "${GITHUB_TOKEN:-}" ]; then
  "$cli" kv put -mount="$mount" platform/github token="$GITHUB_TOKEN" >/dev/null
elif ! "$cli" kv get -mount="$mount" platform/github >/dev/null 2>&1; then
  "$cli" kv put -mount="$mount" platform/github token="replace-me-with-a-github-token" >/dev/null
fi

"$cli" policy write mcp-gateway - >/dev/null <<POLICY
# What the gateway may read: the backends' credentials, nothing else.
path "$mount/data/demo" { capabilities = ["read"] }
path "$mount/metadata/demo" { capabilities = ["read"] }
path "$mount/data/platform/*" { capabilities = ["read"] }
path "$mount/metadata/platform/*" { capabilities = ["read"] }
POLICY

"$cli" auth list -format=json | grep -q '"approle/"' || "$cli" auth enable approle >/dev/null
"$cli" write auth/approle/role/mcp-gateway token_policies=mcp-gateway token_ttl=1h token_max_ttl=24h >/dev/null
umask 077
"$cli" read -field=role_id auth/approle/role/mcp-gateway/role-id >"$out/role-id"
"$cli" write -f -field=secret_id auth/approle/role/mcp-gateway/secret-id >"$out/secret-id"
# The gateway runs as uid 1000 (the image's node user).
chown 1000:1000 "$out/role-id" "$out/secret-id" 2>/dev/null || true
echo "seed: $mount/demo, $mount/platform/{servicenow,catalyst-center,devices,github}, policy mcp-gateway, AppRole mcp-gateway (ids in $out)"
