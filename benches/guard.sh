#!/usr/bin/env bash
# Cheap performance regression guard for CI: checks that benches/wrk/post.lua counts failures
# (benches/wrk/selftest.sh), then starts a sandbox (the example, code and
# log-analysis tool sets: 34 tools) and a gateway from target/debug (the binaries CI already
# built), runs short wrk bursts of ping, tools/list, and tools/call echo through the gateway and
# directly to the sandbox, and fails when
#   - any request failed (status, JSON-RPC error, isError result, missing expected text), or
#   - a ratio within this run falls below its floor (tools/list >= 0.22x ping, gateway echo >=
#     0.2x direct echo on debug binaries; see BOUNDS in benches/guard.py for why these floors).
# Absolute figures are printed, never checked: they move with the machine and its load.
#
#   benches/guard.sh                       # ~20 s; needs wrk, python3, scripts/build-tools.sh done
#   PROFILE=release DURATION=5 benches/guard.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v wrk >/dev/null || { echo "guard.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[[ -f "$repo/target/tools/echo.wasm" ]] || { echo "guard.sh: target/tools is empty: run scripts/build-tools.sh" >&2; exit 1; }
# First prove the failure counter itself works (a server failing on purpose; ~2 s).
if ! out=$("$repo/benches/wrk/selftest.sh" 2>&1); then
    echo "$out" >&2; echo "guard.sh: the wrk failure counter does not work" >&2; exit 1
fi
tail -n1 <<<"$out"
exec python3 "$repo/benches/guard.py" "$@"
