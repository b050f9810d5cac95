#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: lint, build, a short fuzzing pass, unit and
# end-to-end tests against the real binaries, real wasm tools built from source, and real peers
# (OIDC provider, MCP SDK clients).
# Needs: the Rust toolchain with the wasm32-wasip2 target, python3, node/npm (see .ci/run).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

step "peers (OIDC provider, MCP SDKs, OTLP receiver)"
scripts/setup-peers.sh --with-phoenix

step "wasm tools"
scripts/build-tools.sh

step "format"
cargo fmt --all -- --check

step "build"
cargo build --workspace --all-targets

step "lint"
cargo clippy --workspace --all-targets -- -D warnings

step "fuzzing (hostile input to every parser, about a minute)"
scripts/fuzz.sh

step "tests"
cargo test --workspace --no-fail-fast

if [[ -x scripts/check-deploy.sh ]]; then
    step "deployment manifests and alert rules"
    scripts/check-deploy.sh
fi
step "all checks passed"
