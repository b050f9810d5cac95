#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: lint, build, a short fuzzing pass, unit and
# end-to-end tests against the real binaries, real wasm tools built from source, and real peers
# (OIDC provider, MCP SDK clients).
# Needs: the Rust toolchain with the wasm32-wasip2 target, python3, node/npm (see .ci/run).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

step "prerequisites (wasm32-wasip2 target, cmake)"
# shellcheck source=scripts/prereqs.sh
source scripts/prereqs.sh

step "peers (OIDC provider, MCP SDKs, OTLP receiver)"
scripts/setup-peers.sh --with-phoenix

step "wasm tools"
scripts/build-tools.sh

step "format"
cargo fmt --all -- --check

# Lint while compiling: clippy-driver (what `cargo clippy` runs) compiles the workspace's crates,
# so one pass both builds and lints them, the same as `cargo clippy --workspace --all-targets --
# -D warnings` but without checking every dependency a second time (about 5 minutes in CI).
# The tests run under the same variables so they reuse this build; scripts/build-tools.sh clears
# them for the wasm tools.
clippy_driver="$(dirname "$(rustup which cargo 2>/dev/null || command -v cargo)")/clippy-driver"
[[ -x "$clippy_driver" ]] || clippy_driver="$(command -v clippy-driver || true)"
[[ -x "$clippy_driver" ]] || { echo "test.sh: clippy-driver not found (rustup component add clippy)" >&2; exit 1; }
linted=(env RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__")

step "build and lint (clippy -D warnings on every target)"
"${linted[@]}" cargo build --workspace --all-targets

step "fuzzing (hostile input to every parser, about a minute), beside it the wasm cache"
# The interpreter components (CPython, SpiderMonkey) take minutes to compile in a debug sandbox;
# compiled once here into the cache every test's sandbox shares, no test waits on them later.
# That includes the Python and TypeScript SDK examples the examples tool set serves (every test
# sandbox loads them; together ~41 s of this step under load, beside the fuzzing).
target/debug/mcp-sandbox tool compile target/tools/*.wasm >target/precompile.log 2>&1 &
precompile_pid=$!
scripts/fuzz.sh
wait "$precompile_pid" || { cat target/precompile.log >&2; exit 1; }
sed 's/^/  /' target/precompile.log >&2

step "tests"
"${linted[@]}" cargo test --workspace --no-fail-fast

step "performance guard (ratios within one run, every failed request counted)"
benches/guard.sh

if [[ -x scripts/check-deploy.sh ]]; then
    step "deployment manifests and alert rules"
    scripts/check-deploy.sh
fi
step "all checks passed"
