#!/usr/bin/env bash
# Builds the execute_code tool (code/python) into <repo>/target/tools/code.wasm: a WebAssembly
# component embedding CPython and the bundled standard library, made by componentize-py for the
# world `tool-component` of sdk/wit/mcp-tool.wit.
#
# Usage: scripts/build-python.sh          (from anywhere; scripts/build-tools.sh calls it)
#
#   1. Ensures a venv with componentize-py (quick when it is there).
#   2. Rebuilds only when the inputs changed: a hash of the app's sources, the WIT files, the
#      componentize-py version and this script, kept in target/tools/code.wasm.inputs.
#   3. Checks that the output is a component, then moves it into place.
#
# Environment:
#   COMPONENTIZE_VENV   the venv to use or create   (default <repo>/.peers/venv-componentize)
#   PYTHON              the Python that creates it  (default python3; 3.10 or newer)
#   MCP_SKIP_PYTHON_TOOLS=1   skip this build (e.g. where PyPI is unreachable); the `code` tool
#                             set then fails to load for want of code.wasm.
#
# Stub bindings for editors and type checkers go to target/python/bindings; the component does
# not use them (componentize-py generates its own while building).
set -euo pipefail

WORLD=tool-component

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchains.sh
source "$repo/scripts/toolchains.sh"
app="$repo/code/python"
wit="$repo/sdk/wit"
out="$repo/target/tools/code.wasm"
stamp="$out.inputs"
venv="${COMPONENTIZE_VENV:-$repo/.peers/venv-componentize}"
python="${PYTHON:-python3}"
cpy="$venv/bin/componentize-py"

die() {
    echo "build-python: $*" >&2
    exit 1
}

if [[ "${MCP_SKIP_PYTHON_TOOLS:-0}" == 1 ]]; then
    echo "build-python: skipped (MCP_SKIP_PYTHON_TOOLS=1)" >&2
    exit 0
fi

# 1. The venv. A stamp records the requirement it was made for, so a changed pin reinstalls.
ensure_componentize_py "$venv" "$python" build-python \
    "set MCP_SKIP_PYTHON_TOOLS=1 to build without execute_code"
version="$("$cpy" --version)"

# 2. Up to date? Hash every input that can change the component.
inputs_hash() {
    {
        echo "$version"
        sha256sum <"${BASH_SOURCE[0]}"
        (cd "$app" && find . -name '*.py' -not -path './tests/*' -not -path '*/__pycache__/*' -print0 |
            sort -z | xargs -0 sha256sum)
        (cd "$wit" && find . -name '*.wit' -print0 | sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}
hash="$(inputs_hash)"
if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
    echo "build-python: $out is up to date" >&2
    exit 0
fi

# 3. Build into a temporary file; move it into place only once it checks out.
mkdir -p "$(dirname "$out")" "$repo/target/python"
rm -rf "$repo/target/python/bindings"
"$cpy" -q -d "$wit" -w "$WORLD" bindings "$repo/target/python/bindings"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "build-python: building $out with $version" >&2
# The app's directory is the only Python path: componentize-py snapshots what app.py imports.
(cd "$app" && "$cpy" -q -d "$wit" -w "$WORLD" componentize -p . -o "$tmp" app) ||
    die "componentize-py failed to build code/python/app.py (see the Python error above)"

# A component starts with "\0asm" then layer 0x0d 0x00 0x01 0x00; a core module has 01 00 00 00.
[[ "$(od -An -tx1 -j4 -N4 "$tmp" | tr -d ' \n')" == "0d000100" ]] ||
    die "$tmp is not a WebAssembly component"
mv "$tmp" "$out"
echo "$hash" >"$stamp"
printf 'build-python: %-40s %8d bytes\n' "$out" "$(stat -c %s "$out")" >&2
