#!/usr/bin/env bash
# Installs what the two README commands need and a fresh machine of this kind lacks, or says
# exactly what to run: the wasm32-wasip2 Rust target (rustup), and cmake (pingora builds
# zlib-ng; from Debian's packages when running as root). Python 3 and Node must be present.
# Sourced by scripts/run.sh and scripts/test.sh; idempotent and quick when all is there.
prereqs_missing=()
command -v cargo >/dev/null || prereqs_missing+=("the Rust toolchain (https://rustup.rs)")
command -v python3 >/dev/null || prereqs_missing+=("python3")
command -v node >/dev/null || prereqs_missing+=("node and npm")
if ((${#prereqs_missing[@]})); then
    echo "prereqs: missing ${prereqs_missing[*]}; install them, then run this again" >&2
    exit 1
fi
if command -v rustup >/dev/null && ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "prereqs: adding the Rust target wasm32-wasip2 (the tools compile to it)" >&2
    rustup target add wasm32-wasip2 >&2
fi
if ! command -v cmake >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "prereqs: installing cmake (pingora builds zlib-ng with it)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >/dev/null
    else
        echo "prereqs: cmake is missing; install it with: sudo apt-get install -y cmake" >&2
        exit 1
    fi
fi
if [[ ! -d "$(dirname "${BASH_SOURCE[0]}")/../target/debug/deps" ]]; then
    echo "prereqs: first build: expect about 12 minutes of compiling on 2 cores (later runs reuse it)" >&2
fi
