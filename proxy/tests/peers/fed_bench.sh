#!/usr/bin/env bash
# Federated echo: tools/call of the Python SDK server's `echo` (proxy/tests/peers/fed_server.py,
# stateful, event-stream answers) through the gateway (as `up__echo`) versus the same call sent
# directly to the upstream in its own session, in the same run, on loopback, with wrk.
#
#   proxy/tests/peers/fed_bench.sh                    # release build, 5 s per scenario
#   DURATION=10s CONNS=16 PROFILE=debug proxy/tests/peers/fed_bench.sh
#
# Prints, per path: requests/s at CONNS connections, p50/p99 latency at one connection (so the
# difference is the gateway's added latency), and failed requests (wrk/post.lua checks every
# answer: status 200, no JSON-RPC error, no isError, the echoed text present). Then the
# gateway's peak RSS. Needs wrk, the peers (scripts/setup-peers.sh) and built binaries + tools.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$repo"
profile="${PROFILE:-release}"
duration="${DURATION:-5s}"
conns="${CONNS:-16}"
bin="target/$profile"
command -v wrk >/dev/null || { echo "fed_bench.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[[ -x "$bin/mcp-gateway" && -x "$bin/mcp-sandbox" ]] || { echo "fed_bench.sh: build $bin first" >&2; exit 1; }
work="$(mktemp -d)"
cleanup() {
    if [[ -f "$work/pids" ]]; then
        while read -r p; do kill -INT "$p" 2>/dev/null || true; done < "$work/pids"
    fi
    sleep 1; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

up_port=$(free_port)
PORT=$up_port .peers/venv/bin/python proxy/tests/peers/fed_server.py > "$work/upstream.log" 2>&1 &
echo $! >> "$work/pids"
sb_port=$(free_port)
mkdir -p "$work/toolsets" "$work/keys"
cp policies/toolsets/examples.yaml "$work/toolsets/"
printf 'toolsets:\n  examples: { roles: [bench] }\n  up: { roles: [bench] }\n' > "$work/access.yaml"
"$bin/mcp-sandbox" serve --listen "127.0.0.1:$sb_port" --toolsets "$work/toolsets" --policy "$work/access.yaml" \
    --workspaces "$work/ws" --cache target/wasm-cache > "$work/sandbox.log" 2>&1 &
echo $! >> "$work/pids"
head -c 32 /dev/urandom | base64 > "$work/session.key"
gw_port=$(free_port)
cat > "$work/gateway.yaml" <<YAML
listen: 127.0.0.1:$gw_port
sandboxes: [{name: sb, url: 'http://127.0.0.1:$sb_port'}]
mcp_servers: [{name: up, url: 'http://127.0.0.1:$up_port/mcp'}]
policy: access.yaml
keys: {dir: keys}
session: {secret_file: session.key}
audit: {output: 'off'}
server: {threads: 2, grace_period: 0s, shutdown_timeout: 1s}
YAML
"$bin/mcp-gateway" serve --config "$work/gateway.yaml" > "$work/gateway.log" 2>&1 &
gw_pid=$!
echo $gw_pid >> "$work/pids"
key=$("$bin/mcp-gateway" keys --dir "$work/keys" create --user bench --role bench --expires 1d --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"up__echo","arguments":{"text":"hello federation"}}}' > "$work/gw.json"
echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello federation"}}}' > "$work/direct.json"
gw="http://127.0.0.1:$gw_port/mcp"
for _ in $(seq 1 300); do
    curl -s "$gw" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d @"$work/gw.json" 2>/dev/null |
        grep -q 'hello federation' && break
    sleep 0.1
done
# A session of our own with the upstream for the direct calls.
up="http://127.0.0.1:$up_port/mcp"
sid=$(curl -s -D - -o /dev/null "$up" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' |
      tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
direct_headers="Mcp-Session-Id: $sid|MCP-Protocol-Version: 2025-11-25"
curl -s -o /dev/null "$up" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25' -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

measure() { # $1 url, $2 body file, $3 headers, $4 connections, $5 threads -> "rps p50_us p99_us bad"
    local out
    if ! out=$(EXPECT='hello federation' BODY_FILE="$2" HEADERS="$3" wrk -t"$5" -c"$4" -d"$duration" --latency -s benches/wrk/post.lua "$1"); then
        echo "fed_bench.sh: bad responses from $1:" >&2; echo "$out" >&2; exit 1
    fi
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def us(v):
    n, unit = float(re.match(r"([\d.]+)", v).group(1)), re.sub(r"[\d.]", "", v)
    return n * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
lat = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
bad = int(re.search(r"BAD_RESPONSES (\d+)", out).group(1))
print(f"{rps:.0f} {us(lat['50']):.0f} {us(lat['99']):.0f} {bad}")
PY
}
m=$(measure "$up" "$work/direct.json" "$direct_headers" "$conns" 2); read -r d_rps _ _ d_bad <<<"$m"
m=$(measure "$gw" "$work/gw.json" "Authorization: Bearer $key" "$conns" 2); read -r g_rps _ _ g_bad <<<"$m"
m=$(measure "$up" "$work/direct.json" "$direct_headers" 1 1); read -r _ d_p50 d_p99 _ <<<"$m"
m=$(measure "$gw" "$work/gw.json" "Authorization: Bearer $key" 1 1); read -r _ g_p50 g_p99 _ <<<"$m"
printf 'federated echo (%s, %s per scenario, %s connections for throughput, 1 for latency)\n' "$profile" "$duration" "$conns"
printf '  direct to upstream : %7s req/s   p50 %6s us  p99 %6s us   failed %s\n' "$d_rps" "$d_p50" "$d_p99" "$d_bad"
printf '  through gateway    : %7s req/s   p50 %6s us  p99 %6s us   failed %s\n' "$g_rps" "$g_p50" "$g_p99" "$g_bad"
python3 -c "import sys; d,g,dp50,gp50,dp99,gp99=map(float,sys.argv[1:]); print(f'  throughput ratio gateway/direct: {g/d:.2f}; added latency p50 {gp50-dp50:+.0f} us, p99 {gp99-dp99:+.0f} us')" \
    "$d_rps" "$g_rps" "$d_p50" "$g_p50" "$d_p99" "$g_p99"
printf '  gateway peak RSS: %s\n' "$(grep VmHWM "/proc/$gw_pid/status" | awk '{print $2, $3}')"
