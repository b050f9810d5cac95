#!/usr/bin/env bash
# Gateway overhead: tools/call of a trivial tool (echo) through gateway + sandbox versus the same
# call sent directly to the sandbox's /v1/call, in the same run, on loopback, with wrk.
#
#   benches/gateway.sh            # release build, 10 s per scenario
#   DURATION=5s CONNS=16 PROFILE=debug benches/gateway.sh
#   TRACING=1 benches/gateway.sh  # also runs sandbox + gateway with OTLP tracing at 100% sampling
#   TRACING=1 OTLP_ENDPOINT=http://127.0.0.1:6006 benches/gateway.sh   # ... exporting to a real
#                                 # receiver (e.g. Phoenix); default: a port where nothing listens
#
# Reports, per scenario: requests/s at CONNS connections, and p50/p99 latency with one connection
# (no queueing, so the difference is the gateway's added latency). Needs wrk (apt-get install wrk).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
profile="${PROFILE:-release}"
duration="${DURATION:-10s}"
conns="${CONNS:-16}"
command -v wrk >/dev/null || { echo "gateway.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

scripts/build-tools.sh >/dev/null 2>&1
if [[ "$profile" == release ]]; then cargo build -q --release --bins; else cargo build -q --bins; fi
bin="target/$profile"
work="$(mktemp -d)"
# Servers are started inside $(...) subshells, so their pids are collected in a file.
cleanup() {
    if [[ -f "$work/pids" ]]; then
        while read -r p; do kill -INT "$p" 2>/dev/null || true; done < "$work/pids"
    fi
    sleep 1; rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$work/toolsets" "$work/keys"
cp policies/toolsets/examples.yaml "$work/toolsets/"
printf 'toolsets:\n  examples: { roles: [bench] }\n' > "$work/access.yaml"
start_sandbox() { # $1 = name, $2 = extra env; prints the port once ready
    local port; port=$(free_port)
    env $2 "$bin/mcp-sandbox" serve --listen "127.0.0.1:$port" --toolsets "$work/toolsets" --policy "$work/access.yaml" \
        --workspaces "$work/ws" --max-concurrent 64 --max-queue 1024 > "$work/$1.log" 2>&1 &
    echo $! >> "$work/pids"
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
    echo "$port"
}
head -c 32 /dev/urandom | base64 > "$work/session.key"

start_gateway() { # $1 = name, $2 = extra env (uses $sb_port)
    local port; port=$(free_port)
    cat > "$work/$1.yaml" <<YAML
listen: 127.0.0.1:$port
sandboxes: [{name: sb, url: 'http://127.0.0.1:$sb_port'}]
policy: access.yaml
keys: {dir: keys}
session: {secret_file: session.key}
audit: {output: off}
server: {threads: 2, grace_period: 0s, shutdown_timeout: 1s}
YAML
    env $2 "$bin/mcp-gateway" serve --config "$work/$1.yaml" > "$work/$1.log" 2>&1 &
    echo $! >> "$work/pids"
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
    echo "$port"
}
sb_port=$(start_sandbox sandbox "")
key=$("$bin/mcp-gateway" keys --dir "$work/keys" create --user bench --role bench --expires 1d --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

echo '{"tool":"echo","arguments":{"text":"hello"},"user":"bench","roles":["bench"]}' > "$work/direct.json"
echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}' > "$work/mcp.json"

# Runs wrk; prints "rps p50_us p99_us bad".
measure() { # $1 url, $2 body file, $3 headers, $4 connections, $5 threads
    local out
    # post.lua exits non-zero when any response is bad: show them and stop.
    if ! out=$(BODY_FILE="$2" HEADERS="$3" wrk -t"$5" -c"$4" -d"$duration" --latency -s benches/wrk/post.lua "$1"); then
        echo "gateway.sh: bad responses from $1:" >&2; echo "$out" >&2; exit 1
    fi
    python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def us(v):
    n, unit = float(re.match(r"([\d.]+)", v).group(1)), re.sub(r"[\d.]", "", v)
    return n * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
lat = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
bad = int(re.search(r"BAD_RESPONSES (\d+)", out).group(1))  # status, body and socket errors
print(f"{rps:.0f} {us(lat['50']):.0f} {us(lat['99']):.0f} {bad}")
PY
}

run_scenarios() { # $1 label, $2 gateway port
    local gw="http://127.0.0.1:$2/mcp" m
    # A plain assignment, so that set -e stops the script when measure fails.
    m=$(measure "http://127.0.0.1:$sb_port/v1/call" "$work/direct.json" "" "$conns" 2); read -r d_rps _ _ d_bad <<<"$m"
    m=$(measure "$gw" "$work/mcp.json" "Authorization: Bearer $key" "$conns" 2); read -r g_rps _ _ g_bad <<<"$m"
    m=$(measure "http://127.0.0.1:$sb_port/v1/call" "$work/direct.json" "" 1 1); read -r _ d_p50 d_p99 _ <<<"$m"
    m=$(measure "$gw" "$work/mcp.json" "Authorization: Bearer $key" 1 1); read -r _ g_p50 g_p99 _ <<<"$m"
    printf '\n%s (%s, %s per scenario, %s connections for throughput, 1 for latency)\n' "$1" "$profile" "$duration" "$conns"
    printf '  direct to sandbox : %7s req/s   p50 %6s us  p99 %6s us   failed %s\n' "$d_rps" "$d_p50" "$d_p99" "$d_bad"
    printf '  through gateway   : %7s req/s   p50 %6s us  p99 %6s us   failed %s\n' "$g_rps" "$g_p50" "$g_p99" "$g_bad"
    python3 -c "import sys; d,g,dp50,gp50,dp99,gp99=map(float,sys.argv[1:]); print(f'  throughput ratio gateway/direct: {g/d:.2f}; added latency p50 {gp50-dp50:+.0f} us, p99 {gp99-dp99:+.0f} us')" \
        "$d_rps" "$g_rps" "$d_p50" "$g_p50" "$d_p99" "$g_p99"
}

gw_port=$(start_gateway plain "")
run_scenarios "tracing off" "$gw_port"
if [[ "${TRACING:-0}" == 1 ]]; then
    # Without OTLP_ENDPOINT, an endpoint that accepts nothing: export failures must not slow
    # requests either. Both processes export (a second sandbox, so the first stays untraced).
    endpoint="${OTLP_ENDPOINT:-http://127.0.0.1:${OTLP_PORT:-$(free_port)}}"
    otel="OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_TRACES_SAMPLER=always_on"
    sb_port=$(start_sandbox sandbox-traced "$otel")
    gw_port=$(start_gateway traced "$otel")
    run_scenarios "tracing on (100% sampling, gateway and sandbox exporting to $endpoint)" "$gw_port"
    for p in traced sandbox-traced; do
        printf '  %-15s /metrics: %s\n' "$p" "$(curl -s "http://127.0.0.1:$([[ $p == traced ]] && echo "$gw_port" || echo "$sb_port")/metrics" |
            grep -E '^otel_(spans_exported|spans_dropped|export_failures)' | tr '\n' ' ')"
    done
fi
