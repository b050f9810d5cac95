#!/usr/bin/env bash
# Builds every WebAssembly tool package into a component and collects them, flat, in
# <repo>/target/tools/<tool>.wasm: the sandbox's default modules directory.
#
# Usage: scripts/build-tools.sh          (from anywhere)
#
# Guests build in their own target dir (target/guests) so they never wait on the host build's lock.
# Debug info is left out: it multiplies the size of each component by ~15 and with it the time the
# sandbox spends compiling it.
set -euo pipefail

# What to build, one line each: "<cargo package> <example name, or - for the package's lib> <output name>".
# Add a tool package here.
TOOLS=(
    "mcp-tool-sdk   echo            echo"
    "mcp-tool-sdk   text_transform  text_transform"
    "mcp-tool-sdk   tool_caller     tool_caller"
    "hostile-guest  -               hostile"
    "http-fetch-guest -             http_fetch"
    "tool-log-store -               log_store"
    "tool-privacy   -               privacy"
    "tool-workspace -               workspace"
    "tool-skills    -               skills"
    "tool-discovery -               discovery"
)

TARGET=wasm32-wasip2
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
guests="$repo/target/guests"
out="$repo/target/tools"
built="$guests/$TARGET/release"

die() {
    echo "build-tools: $*" >&2
    exit 1
}

command -v cargo >/dev/null || die "cargo is not on PATH"
# Built as they are released, never through scripts/test.sh's clippy wrapper (which would also
# rebuild them whenever it is switched on or off).
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx "$TARGET" ||
        die "the $TARGET target is not installed; run: rustup target add $TARGET"
    # Rust links wasm32-wasip2 into a component with wasm-component-ld, shipped with the target.
    sysroot="$(rustc --print sysroot)"
    host="$(rustc -vV | sed -n 's/^host: //p')"
    [[ -x "$sysroot/lib/rustlib/$host/bin/wasm-component-ld" ]] ||
        die "wasm-component-ld is missing from $sysroot/lib/rustlib/$host/bin; reinstall the $TARGET target"
fi

# One cargo invocation for everything, so shared dependencies build once.
# `--lib` may be given once; it applies to every selected package that has a library.
args=()
lib=()
for entry in "${TOOLS[@]}"; do
    read -r package example _ <<<"$entry"
    args+=(-p "$package")
    if [[ "$example" != "-" ]]; then
        args+=(--example "$example")
    else
        lib=(--lib)
    fi
done
args+=("${lib[@]}")

echo "build-tools: building ${#TOOLS[@]} components for $TARGET" >&2
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --manifest-path "$repo/Cargo.toml" --release --target "$TARGET" \
    --target-dir "$guests" "${args[@]}"

# A component starts with "\0asm" then layer 0x0d 0x00 0x01 0x00; a core module has 01 00 00 00.
is_component() {
    [[ "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" == "0d000100" ]]
}

mkdir -p "$out"
for entry in "${TOOLS[@]}"; do
    read -r package example name <<<"$entry"
    if [[ "$example" != "-" ]]; then
        src="$built/examples/$example.wasm"
    else
        src="$built/${package//-/_}.wasm"
    fi
    [[ -f "$src" ]] || die "expected $src after the build, but it is not there"
    is_component "$src" ||
        die "$src is a core wasm module, not a component; is wasm-component-ld being used for $TARGET?"
    cp "$src" "$out/$name.wasm"
    printf 'build-tools: %-40s %8d bytes\n' "$out/$name.wasm" "$(stat -c %s "$out/$name.wasm")" >&2
done

# The host directories the log-analysis tool set mounts by default: target/sample-logs and
# target/shared-skills.
"$repo/scripts/sample-logs.sh"

# The execute_code tool (Python, built with componentize-py): target/tools/code.wasm.
"$repo/scripts/build-python.sh"

# The execute_javascript tool (JavaScript, built with componentize-js): target/tools/javascript.wasm.
"$repo/scripts/build-javascript.sh"

# Tools written with the Python and TypeScript SDKs (sdk/python, sdk/typescript): one component
# per line, "<sdk> <source, relative to the sdk> <output name>". Each is rebuilt only when a hash
# of its inputs (the SDK, its examples, the WIT files (sdk/wit and the SDK's own, e.g.
# sdk/python/wit), the toolchain pin) changed, kept in
# target/tools/<name>.wasm.inputs like code.wasm's. `*_examples` are the examples (py_echo,
# ts_echo, ...) to serve; `*_tests` hold the same examples plus hostile tools, for the sandbox's
# tests only. Each embeds an interpreter: ~9 s to build, 12-19 MB.
SDK_TOOLS=(
    "python      examples/examples.py   py_examples"
    "python      examples/sdk_tests.py  py_tests"
    "typescript  examples/examples.ts   ts_examples"
    "typescript  examples/sdk_tests.ts  ts_tests"
)

sdk_inputs_hash() {
    local sdk="$1"
    {
        sha256sum <"${BASH_SOURCE[0]}"
        (cd "$repo/sdk/$sdk" && find . \( -name node_modules -o -name __pycache__ -o -name tests \) -prune -o \
            -type f \( -name '*.py' -o -name '*.ts' -o -name '*.mjs' -o -name '*.sh' -o -name '*.wit' \) -print0 |
            sort -z | xargs -0 sha256sum)
        (cd "$repo/sdk/wit" && find . -name '*.wit' -print0 | sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
}

# The TypeScript SDK's declarations of the WIT world must match sdk/wit (regenerate them with
# `node sdk/typescript/gen-types.mjs` after changing the WIT).
if [[ "${MCP_SKIP_JAVASCRIPT_TOOLS:-0}" != 1 ]]; then
    node "$repo/sdk/typescript/gen-types.mjs" --check
fi

for entry in "${SDK_TOOLS[@]}"; do
    read -r sdk source name <<<"$entry"
    case "$sdk" in
        python) [[ "${MCP_SKIP_PYTHON_TOOLS:-0}" == 1 ]] && continue ;;
        typescript) [[ "${MCP_SKIP_JAVASCRIPT_TOOLS:-0}" == 1 ]] && continue ;;
    esac
    target="$out/$name.wasm"
    hash="$(sdk_inputs_hash "$sdk")"
    if [[ -f "$target" && "$(cat "$target.inputs" 2>/dev/null)" == "$hash" ]]; then
        echo "build-tools: $target is up to date" >&2
        continue
    fi
    started=$SECONDS
    "$repo/sdk/$sdk/build.sh" "$repo/sdk/$sdk/$source" "$target"
    echo "$hash" >"$target.inputs"
    printf 'build-tools: %-40s %8d bytes (%ds)\n' "$target" "$(stat -c %s "$target")" $((SECONDS - started)) >&2
done
