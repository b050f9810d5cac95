#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads hostile input (fuzz/README.md): builds the
# libFuzzer targets in fuzz/ with cargo-fuzz on stable Rust (no sanitizer: stable has none),
# replays the corpus kept in fuzz/corpus (seeds and regression inputs), then fuzzes each target
# for its share of FUZZ_SECONDS_TOTAL. Fails on the first crash, panic, broken invariant or
# timeout and prints the reproducer.
#
#   scripts/fuzz.sh                      all targets, about 60 s of fuzzing in all (CI)
#   scripts/fuzz.sh jsonrpc schema       only these
#   FUZZ_SECONDS_TOTAL=1800 scripts/fuzz.sh   a longer local run
#   FUZZ_MERGE=1 scripts/fuzz.sh         also merge inputs that add coverage into fuzz/corpus
#
# Environment: FUZZ_SECONDS_TOTAL (60), FUZZ_JOBS (targets fuzzed at once; the number of CPUs),
# FUZZ_TIMEOUT (seconds one input may take before it counts as a hang; 10), FUZZ_MERGE (0).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/fuzz"

CARGO_FUZZ_VERSION=0.13.2
total="${FUZZ_SECONDS_TOTAL:-60}"
jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"
hang="${FUZZ_TIMEOUT:-10}"
merge="${FUZZ_MERGE:-0}"

say() { printf 'fuzz: %s\n' "$*" >&2; }

# cargo-fuzz from crates.io, once per machine (about a minute to compile).
if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet
fi

all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^mcp-fuzz$')
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || read -r -a targets <<<"$(echo $all_targets)"
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$all_targets" || { say "no target $t (have: $(echo $all_targets))"; exit 2; }
done

cargo fmt --check
# No sanitizer (-s none): stable Rust has none, and safe Rust's bounds and overflow checks
# (debug assertions are on in fuzz/Cargo.toml's release profile) catch what they would.
# 16 codegen units: a much shorter build for slightly slower fuzzing.
say "building ${#targets[@]} target(s)"
build_log="$(mktemp "${TMPDIR:-/tmp}/mcp-fuzz-build.XXXXXX")"
build() { cargo fuzz build -s none --codegen-units 16 "$@" >>"$build_log" 2>&1; }
if [[ ${#targets[@]} -eq $(wc -w <<<"$all_targets") ]]; then
    build || { tail -40 "$build_log" >&2; say "build failed"; exit 1; }
else
    for t in "${targets[@]}"; do
        build "$t" || { tail -40 "$build_log" >&2; say "build of $t failed"; exit 1; }
    done
fi
rm -f "$build_log"
bin="$repo/fuzz/target/x86_64-unknown-linux-gnu/release"

work="$(mktemp -d "${TMPDIR:-/tmp}/mcp-fuzz.XXXXXX")"
scratch_base=/dev/shm
[[ -d $scratch_base && -w $scratch_base ]] || scratch_base="${TMPDIR:-/tmp}"
export MCP_FUZZ_SCRATCH
MCP_FUZZ_SCRATCH="$(mktemp -d "$scratch_base/mcp-fuzz-scratch.XXXXXX")"
trap 'rm -rf "$work" "$MCP_FUZZ_SCRATCH"' EXIT

per=$((total * jobs / ${#targets[@]}))
((per >= 1)) || per=1
say "fuzzing ${#targets[@]} target(s), ${per}s each, $jobs at a time"

# Runs one target: new inputs go to a scratch corpus, the repository's corpus is only read.
fuzz_one() {
    local t=$1
    mkdir -p "$work/new/$t" "$work/artifacts/$t" "corpus/$t"
    "$bin/$t" "$work/new/$t" "corpus/$t" \
        -max_total_time="$per" -timeout="$hang" -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
        >"$work/$t.log" 2>&1
}

failed=()
running=()
wait_one() {
    local t=${running[0]}
    running=("${running[@]:1}")
    if wait "${pids[$t]}"; then
        local stats
        stats=$(grep -E '^#[0-9]+\s+DONE' "$work/$t.log" | tail -1 | sed 's/^#\([0-9]*\)\s*DONE\s*/\1 runs, /')
        say "$t ok: $stats"
    else
        failed+=("$t")
    fi
}
declare -A pids
for t in "${targets[@]}"; do
    fuzz_one "$t" &
    pids[$t]=$!
    running+=("$t")
    ((${#running[@]} < jobs)) || wait_one
done
while ((${#running[@]} > 0)); do wait_one; done

if [[ $merge == 1 ]]; then
    for t in "${targets[@]}"; do
        "$bin/$t" -merge=1 "corpus/$t" "$work/new/$t" >/dev/null 2>&1 || true
    done
    say "merged new coverage into fuzz/corpus ($(du -sh corpus | cut -f1))"
fi

if ((${#failed[@]} > 0)); then
    keep="$repo/fuzz/artifacts"
    mkdir -p "$keep"
    for t in "${failed[@]}"; do
        mkdir -p "$keep/$t"
        cp -r "$work/artifacts/$t/." "$keep/$t/" 2>/dev/null || true
        say "FAILED: $t"
        grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$work/$t.log" | grep -v '^\s*[0-9]*: \|^\s*at ' | head -30 >&2 || tail -30 "$work/$t.log" >&2
        for a in "$keep/$t"/*; do
            [[ -e $a ]] || continue
            say "reproducer: $a"
            say "  replay:   fuzz/target/x86_64-unknown-linux-gnu/release/$t $a"
            say "  minimise: (cd fuzz && cargo fuzz tmin -s none $t $a)"
        done
    done
    exit 1
fi
say "all ${#targets[@]} target(s) passed"
