#!/usr/bin/env bash
# Measures "Write your first tool" end to end, as a new author would do it, for one language:
# scaffold + build + `tool check` (new.sh), copy the component into a running sandbox's modules
# directory, list it in a tool set and grant it, wait for the hot reload and the gateway's
# catalog to pick it up, and call it through the gateway with an API key. Prints each step's
# time and the total.
#
# Usage: sdk/python/scaffold_to_call.sh python|typescript [PROFILE]    (PROFILE: release|debug,
#        default release; the binaries must be built: cargo build --release --bins)
#
# Everything runs in a temporary directory on loopback; the repo's policies are not touched.
set -euo pipefail

lang="${1:?usage: $0 python|typescript [release|debug]}"
profile="${2:-release}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$repo/target/$profile"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_until() { # what, seconds, command...
    local what="$1" deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { echo "timed out waiting for $what" >&2; exit 1; }
        sleep 0.2
    done
}
now() { date +%s.%N; }
lap() { printf '%-58s %6.1f s\n' "$1" "$(echo "$(now) - $2" | bc)"; }

sandbox_port="$(free_port)"
gateway_port="$(free_port)"
mkdir -p "$work"/{toolsets,modules,keys,ws}
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/sandbox.token"
head -c 32 /dev/urandom | base64 >"$work/session.key"
printf 'toolsets:\n  examples: { roles: [mcp-user] }\n' >"$work/access.yaml"
cp "$repo/target/tools/echo.wasm" "$work/modules/"
printf 'name: examples\ncomponents:\n  - file: echo.wasm\n' >"$work/toolsets/examples.yaml"
cat >"$work/gateway.yaml" <<YAML
listen: 127.0.0.1:$gateway_port
allowed_origins: []
sandboxes:
  - name: local
    url: http://127.0.0.1:$sandbox_port
    token_file: $work/sandbox.token
policy: $work/access.yaml
keys:
  dir: $work/keys
session:
  secret_file: $work/session.key
audit:
  output: $work/audit.log
catalog:
  refresh: 2s
YAML
"$bin/mcp-sandbox" serve --listen "127.0.0.1:$sandbox_port" --toolsets "$work/toolsets" \
    --modules "$work/modules" --policy "$work/access.yaml" --workspaces "$work/ws" \
    --cache "$repo/target/wasm-cache" --auth-token-file "$work/sandbox.token" >"$work/sandbox.log" 2>&1 &
pids+=($!)
"$bin/mcp-gateway" serve --config "$work/gateway.yaml" >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_until "the sandbox" 120 curl -sf "http://127.0.0.1:$sandbox_port/ready"
wait_until "the gateway" 60 curl -sf "http://127.0.0.1:$gateway_port/health"
key="$("$bin/mcp-gateway" keys --dir "$work/keys" create --user author --role mcp-user --expires 1d --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
rpc() {
    curl -s "http://127.0.0.1:$gateway_port/mcp" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H 'MCP-Protocol-Version: 2025-06-18' -d "$1"
}

name="first_${lang:0:2}_$$"
echo "== $lang: scaffold to a live call through the gateway ($profile binaries)"
start="$(now)"
t="$(now)"
(cd "$work" && "$repo/sdk/$lang/new.sh" "$name" >"$work/new.log" 2>&1) ||
    { cat "$work/new.log" >&2; exit 1; }
lap "1. new.sh: scaffold, build, tool check" "$t"
t="$(now)"
cp "$work/$name/$name.wasm" "$work/modules/"
printf 'name: mine\ncomponents:\n  - file: %s.wasm\n' "$name" >"$work/toolsets/mine.yaml"
printf '  mine: { roles: [mcp-user] }\n' >>"$work/access.yaml"
listed() { rpc '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' | grep -q "\"$name\""; }
wait_until "the tool in the gateway's tools/list" 300 listed
lap "2. deploy: hot reload (compile) + gateway catalog refresh" "$t"
t="$(now)"
answer="$(rpc "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"$name\",\"arguments\":{\"text\":\"hello\"}}}")"
echo "$answer" | grep -q 'HELLO!' || { echo "unexpected answer: $answer" >&2; exit 1; }
lap "3. tools/call through the gateway" "$t"
lap "total" "$start"

# The same tool from the official MCP Python SDK, when it is installed (scripts/setup-peers.sh).
client_python="${MCP_CLIENT_PYTHON:-$repo/.peers/venv/bin/python}"
if "$client_python" -c 'import mcp' 2>/dev/null; then
    echo "== the official MCP Python SDK client: list, call, and a call that breaks the schema"
    "$client_python" "$repo/sdk/python/official_client_call.py" "http://127.0.0.1:$gateway_port/mcp" \
        "$key" "$name" '{"text": "hello", "marks": 3}' '{"text": 5}'
fi
