#!/usr/bin/env bash
# Runs the gateway in front of the sandbox with the example and log-analysis tool sets, locally,
# with no external services: API keys from a local directory, policies from policies/, tools built
# from source. Creates a fresh API key and prints how to call the gateway. Ctrl-C stops both.
#
# Env: PROFILE=debug|release (default debug), GATEWAY_PORT (8080), SANDBOX_PORT (7070).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
profile="${PROFILE:-debug}"
gateway_port="${GATEWAY_PORT:-8080}"
sandbox_port="${SANDBOX_PORT:-7070}"
state="target/local"
# shellcheck source=scripts/prereqs.sh
source scripts/prereqs.sh

echo "==> building the wasm tools and the binaries ($profile)" >&2
scripts/build-tools.sh
if [[ "$profile" == release ]]; then cargo build --release --bins; else cargo build --bins; fi
bin="target/$profile"

mkdir -p "$state/keys"
if [[ ! -s "$state/session.key" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > "$state/session.key")
fi
# The sandbox serves only callers holding this token (the gateway: deploy/local/gateway.yaml's
# sandboxes[].token_file), and takes each caller's identity from grants signed with it.
if [[ ! -s "$state/sandbox.token" ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/sandbox.token")
fi

echo "==> starting mcp-sandbox on 127.0.0.1:$sandbox_port (log: $state/sandbox.log)" >&2
"$bin/mcp-sandbox" serve --listen "127.0.0.1:$sandbox_port" --workspaces "$state/workspaces" \
    --auth-token-file "$state/sandbox.token" > "$state/sandbox.log" 2>&1 &
sandbox_pid=$!
trap 'kill -INT "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$sandbox_port/ready" >/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || { cat "$state/sandbox.log" >&2; echo "mcp-sandbox exited" >&2; exit 1; }
    sleep 0.5   # the first start compiles the CPython component (~15 s); later starts use the cache
done

key_json="$("$bin/mcp-gateway" keys --dir "$state/keys" create --user demo \
    --role mcp-user --role mcp-log-analyst --expires 7d --description "local quick-start" --json)"
key="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$key_json")"
url="http://127.0.0.1:$gateway_port/mcp"

cat >&2 <<TXT

==> mcp-gateway on $url  (audit log: $state/audit.log, metrics: http://127.0.0.1:$gateway_port/metrics)

A new API key for user "demo" (roles mcp-user, mcp-log-analyst), shown once:

    export MCP_KEY=$key

List the tools with curl:

    curl -s $url -H "Authorization: Bearer \$MCP_KEY" -H 'Content-Type: application/json' \\
      -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'

Run code that calls tools from inside the sandbox:

    curl -s $url -H "Authorization: Bearer \$MCP_KEY" -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":2,
      "method":"tools/call","params":{"name":"execute_code","arguments":{"language":"python",
      "code":"from tools import log_store\\nr = log_store.get_error_summary(hours=24)\\nr[\"errors\"]"}}}'

With an MCP client (Streamable HTTP), e.g. the official Python SDK (scripts/setup-peers.sh installs it):

    .peers/venv/bin/python proxy/tests/clients/py_client.py $url \$MCP_KEY
    # or in your client's config: url $url, header "Authorization: Bearer \$MCP_KEY"

Manage keys: $bin/mcp-gateway keys --dir $state/keys list | revoke ID | rotate ID
Press Ctrl-C to stop.
TXT

MCP_GATEWAY__LISTEN="127.0.0.1:$gateway_port" \
MCP_GATEWAY__SANDBOXES__0__URL="http://127.0.0.1:$sandbox_port" \
    "$bin/mcp-gateway" serve --config deploy/local/gateway.yaml
