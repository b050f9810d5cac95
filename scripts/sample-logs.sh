#!/usr/bin/env bash
# Prepares the host directories the log-analysis tool set mounts by default
# (policies/toolsets/log-analysis.yaml), so a sandbox started without MCP_LOG_DIR and
# MCP_SHARED_SKILLS_DIR finds them (it refuses to start if a mounted directory is missing):
#
#   target/sample-logs     sample logs from samples/generate_logs.py, ending now; regenerated
#                          when missing or more than a day old (so "the last 24 hours" has data)
#   target/shared-skills   the shared skill catalog (created empty if missing, never touched after)
#
# Usage: scripts/sample-logs.sh     (from anywhere; scripts/build-tools.sh calls it)
# Environment: SAMPLE_LOGS_SEED (default 42), PYTHON (default python3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
logs="$repo/target/sample-logs"
shared="$repo/target/shared-skills"
python="${PYTHON:-python3}"

mkdir -p "$shared"

if [[ -d "$logs" && -n "$(find "$logs" -maxdepth 0 -mmin -1440)" ]]; then
    exit 0
fi
if ! command -v "$python" >/dev/null; then
    # The sandbox only needs the directory to exist (empty, the log tools find no entries).
    mkdir -p "$logs"
    echo "sample-logs: $python is not on PATH, so $logs was not (re)generated; install" \
        "Python 3 and rerun this script for fresh sample logs" >&2
    exit 0
fi
rm -rf "$logs.tmp"
"$python" "$repo/samples/generate_logs.py" --out "$logs.tmp" --seed "${SAMPLE_LOGS_SEED:-42}"
rm -rf "$logs"
mv "$logs.tmp" "$logs"
echo "sample-logs: wrote $logs" >&2
