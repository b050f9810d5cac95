#!/usr/bin/env bash
# Builds the execute_javascript tool (code/javascript) into <repo>/target/tools/javascript.wasm: a
# WebAssembly component embedding SpiderMonkey (StarlingMonkey), made by componentize-js for the
# world `tool-component` of sdk/wit/mcp-tool.wit, the same world as code.wasm (Python).
#
# Usage: scripts/build-javascript.sh          (from anywhere; scripts/build-tools.sh calls it)
#
#   1. Ensures componentize-js is installed in a folder of its own (quick when it is there).
#   2. Rebuilds only when the inputs changed: a hash of the app's sources, the WIT files, the
#      componentize-js version and this script, kept in target/tools/javascript.wasm.inputs.
#   3. Checks that the output is a component, then moves it into place.
#
# Environment:
#   COMPONENTIZE_JS_DIR   the folder to install componentize-js into
#                         (default <repo>/.peers/componentize-js)
#   MCP_SKIP_JAVASCRIPT_TOOLS=1   skip this build (e.g. where npm is unreachable); a tool set
#                                 serving javascript.wasm then fails to load for want of it.
set -euo pipefail

WORLD=tool-component
# The WASI features the program does not get: no HTTP, no stdio (console is captured by the
# app itself). Clocks and random stay: Date and Math.random need them.
DISABLE=(http fetch-event stdio)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchains.sh
source "$repo/scripts/toolchains.sh"
app="$repo/code/javascript"
wit="$repo/sdk/wit"
out="$repo/target/tools/javascript.wasm"
stamp="$out.inputs"
dir="${COMPONENTIZE_JS_DIR:-$repo/.peers/componentize-js}"
cli="$dir/node_modules/@bytecodealliance/componentize-js/src/cli.js"

die() {
    echo "build-javascript: $*" >&2
    exit 1
}

if [[ "${MCP_SKIP_JAVASCRIPT_TOOLS:-0}" == 1 ]]; then
    echo "build-javascript: skipped (MCP_SKIP_JAVASCRIPT_TOOLS=1)" >&2
    exit 0
fi
command -v node >/dev/null || die "node is not on PATH (set MCP_SKIP_JAVASCRIPT_TOOLS=1 to build without execute_javascript)"

# 1. componentize-js. A stamp records the package it was installed for, so a changed pin reinstalls.
ensure_componentize_js "$dir" build-javascript \
    "set MCP_SKIP_JAVASCRIPT_TOOLS=1 to build without execute_javascript"

# 2. Up to date? Hash every input that can change the component.
inputs_hash() {
    {
        echo "$COMPONENTIZE_JS ${DISABLE[*]}"
        sha256sum <"${BASH_SOURCE[0]}"
        (cd "$app" && find . -name '*.js' -not -path './tests/*' -print0 | sort -z | xargs -0 sha256sum)
        (cd "$wit" && find . -name '*.wit' -print0 | sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}
hash="$(inputs_hash)"
if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
    echo "build-javascript: $out is up to date" >&2
    exit 0
fi

# 3. Build into a temporary file; move it into place only once it checks out.
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "build-javascript: building $out with $COMPONENTIZE_JS" >&2
node "$cli" "$app/app.js" -w "$wit" -n "$WORLD" -d "${DISABLE[@]}" -o "$tmp" ||
    die "componentize-js failed to build code/javascript/app.js (see the error above)"

# A component starts with "\0asm" then layer 0x0d 0x00 0x01 0x00; a core module has 01 00 00 00.
[[ "$(od -An -tx1 -j4 -N4 "$tmp" | tr -d ' \n')" == "0d000100" ]] ||
    die "$tmp is not a WebAssembly component"
mv "$tmp" "$out"
echo "$hash" >"$stamp"
printf 'build-javascript: %-40s %8d bytes\n' "$out" "$(stat -c %s "$out")" >&2
