#!/usr/bin/env bash
# Builds a Python tool into a WebAssembly component with componentize-py, for the world
# `tool-component-http` of sdk/python/wit: the tool contract (`tool-component` of
# sdk/wit/mcp-tool.wit) plus wasi:http's outgoing handler for `mcp_tool.http`, with the `mcp_tool`
# package of this directory.
#
# Usage: sdk/python/build.sh path/to/app.py out.wasm [extra python path...]
#
#   app.py must assign the WIT export: `Tool = export(tool_a, tool_b, ...)`. Its directory and
#   this SDK are the Python path; componentize-py snapshots what the module imports, so a tool
#   described wrongly (a bad name, an unsupported type hint) fails here, not at deployment.
#
# Environment:
#   COMPONENTIZE_VENV   the venv with componentize-py (default <repo>/.peers/venv-componentize;
#                       created with PYTHON, default python3, when missing)
#   MCP_TOOL_WIT        a WIT directory whose world `tool-component` to build against instead
#                       (e.g. sdk/wit: no wasi:http import, so `mcp_tool.http` is unavailable)
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$sdk/../.." && pwd)"
# One Python toolchain, pinned and installed as for execute_code (scripts/build-python.sh).
# shellcheck source=scripts/toolchains.sh
source "$repo/scripts/toolchains.sh"
if [[ -n "${MCP_TOOL_WIT:-}" ]]; then
    wit="$MCP_TOOL_WIT"
    WORLD=tool-component
else
    wit="$sdk/wit"
    WORLD=tool-component-http
fi
venv="${COMPONENTIZE_VENV:-$repo/.peers/venv-componentize}"
python="${PYTHON:-python3}"
cpy="$venv/bin/componentize-py"

die() {
    echo "mcp_tool build: $*" >&2
    exit 1
}

[[ $# -ge 2 ]] || die "usage: $0 path/to/app.py out.wasm [extra python path...]"
app="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
shift 2
[[ -f "$app" && "$app" == *.py ]] || die "$app is not a Python file"
module="$(basename "$app" .py)"

ensure_componentize_py "$venv" "$python" "mcp_tool build"

paths=(-p "$(dirname "$app")" -p "$sdk")
for extra in "$@"; do
    paths+=(-p "$extra")
done
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Run from the app's directory so no other module of the caller's working directory is picked up.
(cd "$(dirname "$app")" && "$cpy" -q -d "$wit" -w "$WORLD" componentize "${paths[@]}" -o "$tmp" "$module") ||
    die "componentize-py failed to build $app (see the Python error above)"
# A component starts with "\0asm" then layer 0x0d 0x00 0x01 0x00; a core module has 01 00 00 00.
[[ "$(od -An -tx1 -j4 -N4 "$tmp" | tr -d ' \n')" == "0d000100" ]] || die "$tmp is not a WebAssembly component"
mv "$tmp" "$out"
