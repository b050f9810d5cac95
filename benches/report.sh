#!/usr/bin/env bash
# The performance report in one command: builds the release binaries and the wasm tools,
# installs the peers (real OIDC provider, official Python MCP SDK) if missing, starts everything
# on loopback, runs every scenario in one run and writes benches/RESULTS.md, benches/results.svg
# and benches/results.json. Stops with no report if any response was bad.
#
#   benches/report.sh                  # minutes after the build (RESULTS.md states how many); needs wrk, python3, node
#   DURATION=2 CONNS=1,16 benches/report.sh     # quicker, fewer points
#   NO_BUILD=1 benches/report.sh       # use the binaries already in target/release
# Quick check of some scenarios (keys as in report.py), printed, no report written:
#   NO_BUILD=1 DURATION=1 CONNS=1 ONLY='exec_js|exec_ts|fed_|sdk_' benches/report.sh
#   ... benches/report.sh --only fed_gw --break fed_gw    # must fail: the check counts bad bodies
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
command -v wrk >/dev/null || { echo "report.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [[ "${NO_BUILD:-0}" != 1 ]]; then
    scripts/build-tools.sh >/dev/null
    cargo build --release -p mcp-gateway -p mcp-sandbox
fi
scripts/setup-peers.sh
exec python3 benches/report.py "$@"
