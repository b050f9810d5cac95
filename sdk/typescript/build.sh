#!/usr/bin/env bash
# Builds a TypeScript (or JavaScript) tool into a WebAssembly component for the world
# `tool-component` of sdk/wit/mcp-tool.wit: type-checks it against the SDK and the declarations
# generated from the WIT (sdk/typescript/wit), bundles it with the SDK (rolldown), and makes the
# component with componentize-js (SpiderMonkey): the same toolchain, pin and folder as
# scripts/build-javascript.sh (execute_javascript). rolldown and tsc come with it (through jco).
#
# Usage: sdk/typescript/build.sh path/to/app.ts out.wasm
#
#   app.ts must export the WIT export: `export const tool = exportTools(toolA, toolB, ...)`.
#
# Environment:
#   COMPONENTIZE_JS_DIR       the toolchain folder (default <repo>/.peers/componentize-js;
#                             installed there with npm when missing)
#   MCP_TOOL_TYPECHECK=0      skip the type check (the build still fails on syntax errors)
set -euo pipefail

WORLD=tool-component
# `fetch` stays (componentize-js's `http` feature: the component imports wasi:http/outgoing-handler).
# The sandbox links wasi:http for every component and checks each request against the
# component's `capabilities.http` grant in its tool set: without a grant every request is refused,
# so keeping the import costs a tool nothing it was not given (see "Outbound HTTP" in README.md).
# Only `fetch-event` (serving incoming HTTP) is left out: a tool is called, it does not listen.
# stdio stays, so console.log goes to the sandbox's capped stdout like a Rust tool's println!.
DISABLE=(fetch-event)

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$sdk/../.." && pwd)"
# One JavaScript toolchain, pinned and installed as for execute_code (scripts/build-javascript.sh).
# shellcheck source=scripts/toolchains.sh
source "$repo/scripts/toolchains.sh"
wit="${MCP_TOOL_WIT:-$sdk/../wit}"
dir="${COMPONENTIZE_JS_DIR:-$repo/.peers/componentize-js}"
cli="$dir/node_modules/@bytecodealliance/componentize-js/src/cli.js"

die() {
    echo "mcp-tool build: $*" >&2
    exit 1
}

[[ $# -eq 2 ]] || die "usage: $0 path/to/app.ts out.wasm"
app="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
[[ -f "$app" ]] || die "$app does not exist"
command -v node >/dev/null || die "node is not on PATH"

ensure_componentize_js "$dir" "mcp-tool build"

# rolldown and tsc arrive with componentize-js (through jco); should a later jco stop bringing
# them, install the versions this SDK was made with beside it.
for need in "rolldown@1.3.4 node_modules/rolldown/dist/index.mjs" "typescript@7.0.2 node_modules/.bin/tsc"; do
    read -r package path <<<"$need"
    if [[ ! -e "$dir/$path" ]]; then
        echo "mcp-tool build: installing $package into $dir" >&2
        (cd "$dir" && npm install --silent --no-audit --no-fund --no-save "$package") || die "cannot install $package from npm"
    fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. Type check: the app against the SDK, the SDK against the WIT declarations.
if [[ "${MCP_TOOL_TYPECHECK:-1}" != 0 && "$app" == *.ts ]]; then
    cat >"$work/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "ES2022", "module": "ESNext",
    "moduleResolution": "Bundler", "lib": ["ES2023"], "types": [], "skipLibCheck": false,
    "paths": { "mcp-tool": ["$sdk/src/index.ts"] }
  },
  "files": ["$sdk/wit/tool-component.d.ts", "$sdk/src/console.d.ts", "$app"]
}
JSON
    "$dir/node_modules/.bin/tsc" -p "$work/tsconfig.json" || die "$app does not type-check (see above)"
fi

# 2. One ES module: the app and the SDK.
node "$sdk/bundle.mjs" "$app" "$work/bundle.js" || die "cannot bundle $app (see above)"

# 3. The component.
mkdir -p "$(dirname "$out")"
node "$cli" "$work/bundle.js" -w "$wit" -n "$WORLD" -d "${DISABLE[@]}" -o "$work/out.wasm" >&2 ||
    die "componentize-js failed to build $app (see the error above)"
# A component starts with "\0asm" then layer 0x0d 0x00 0x01 0x00; a core module has 01 00 00 00.
[[ "$(od -An -tx1 -j4 -N4 "$work/out.wasm" | tr -d ' \n')" == "0d000100" ]] || die "$out is not a WebAssembly component"
mv "$work/out.wasm" "$out"
