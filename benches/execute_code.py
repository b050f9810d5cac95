#!/usr/bin/env python3
"""Benchmark of the execute_code tool (code mode) against the real mcp-sandbox binary.

Measures:
  1. Start-up with code.wasm: compiling it (empty artifact cache) versus loading the cached
     artifact, as the time from spawning `mcp-sandbox serve` (serving only the `code` tool set)
     to its "listening" line.
  2. Latency of a trivial program (`1 + 1`): N sequential POST /v1/call, p50/p90/p99/max.
  3. A program making 100 `echo` calls, versus the same 100 calls as separate POST /v1/call
     requests (sequential, one HTTP connection each, as a simple client would make them).

Usage (from anywhere; needs only the Python standard library):
    scripts/build-tools.sh                      # builds target/tools/code.wasm and echo.wasm
    cargo build --release -p mcp-sandbox        # or use --profile debug
    python3 benches/execute_code.py [--profile release|debug] [--calls 200] [--rounds 5]

Everything runs on loopback with ephemeral ports and temporary directories. The run is
bounded: each phase stops at --budget-s seconds (default 120) and reports what it measured.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 300


def start_sandbox(binary, toolsets, cache, work):
    """Starts `mcp-sandbox serve` serving `toolsets`; returns (process, url, seconds to ready)."""
    sets = work / f"toolsets-{'-'.join(toolsets)}"
    sets.mkdir(exist_ok=True)
    grants = "toolsets:\n"
    for name in toolsets:
        link = sets / f"{name}.yaml"
        if not link.exists():
            link.symlink_to(REPO / "policies" / "toolsets" / f"{name}.yaml")
        grants += f"  {name}: {{ roles: [bench] }}\n"
    policy = work / f"access-{'-'.join(toolsets)}.yaml"
    policy.write_text(grants)
    log = work / f"sandbox-{'-'.join(toolsets)}.stderr"
    started = time.perf_counter()
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [
                str(binary),
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--toolsets",
                str(sets),
                "--modules",
                str(REPO / "target" / "tools"),
                "--policy",
                str(policy),
                "--workspaces",
                str(work / "workspaces"),
                "--cache",
                str(cache),
                "--max-concurrent",
                "4",
                "--log-format",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    found = {}

    def watch():
        for line in proc.stdout:
            m = re.search(r" listening on (\S+)", line)
            if m:
                found["url"] = m.group(1)
                found["ready_s"] = time.perf_counter() - started
                break
        for _ in proc.stdout:  # keep draining so the sandbox never blocks on stdout
            pass

    threading.Thread(target=watch, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while "url" not in found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-20:])
            sys.exit(f"mcp-sandbox did not start (exit {proc.poll()}); its stderr ends:\n{tail}")
        time.sleep(0.01)
    return proc, found["url"], found["ready_s"]


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def call(url, tool, arguments):
    body = json.dumps(
        {
            "tool": tool,
            "arguments": arguments,
            "user": "bench",
            "roles": ["bench"],
            "request_id": "bench",
        }
    ).encode()
    req = urllib.request.Request(f"{url}/v1/call", body, {"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=150) as r:
        answer = json.loads(r.read())
    elapsed_ms = (time.perf_counter() - started) * 1000
    if not answer.get("ok"):
        sys.exit(f"{tool} failed: {answer}")
    return answer, elapsed_ms


def run_code(url, code):
    answer, ms = call(url, "execute_code", {"language": "python", "code": code})
    report = answer["result"]
    if not report["success"]:
        sys.exit(f"program failed: {report['error']}\n{report['traceback']}")
    return report, answer["stats"], ms


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values):
    return (
        f"p50 {percentile(values, 50):7.2f} ms  p90 {percentile(values, 90):7.2f} ms  "
        f"p99 {percentile(values, 99):7.2f} ms  max {max(values):7.2f} ms  (n={len(values)})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="release", choices=["release", "debug"])
    parser.add_argument("--calls", type=int, default=200, help="trivial programs to time")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the 100-call comparison")
    parser.add_argument("--budget-s", type=float, default=120, help="time limit per phase")
    args = parser.parse_args()
    binary = REPO / "target" / args.profile / "mcp-sandbox"
    for needed in (binary, REPO / "target/tools/code.wasm", REPO / "target/tools/echo.wasm"):
        if not needed.exists():
            sys.exit(f"{needed} is missing; see the usage at the top of {__file__}")
    size_mib = (REPO / "target/tools/code.wasm").stat().st_size / 2**20
    print(f"mcp-sandbox: {binary} ({args.profile}); code.wasm {size_mib:.1f} MiB")

    with tempfile.TemporaryDirectory(prefix="bench-execute-code-") as tmp:
        work = Path(tmp)
        cache = work / "cache"

        # 1. Compile versus cached load (the code tool set alone, so code.wasm dominates).
        proc, _, cold = start_sandbox(binary, ["code"], cache, work)
        stop(proc)
        proc, _, warm = start_sandbox(binary, ["code"], cache, work)
        stop(proc)
        print(
            f"start-up serving code.wasm: {cold:6.2f} s compiling it (empty cache), "
            f"{warm:6.2f} s from the cached artifact"
        )

        proc, url, _ = start_sandbox(binary, ["code", "examples"], cache, work)
        try:
            # 2. Trivial program latency (after a few warm-up calls).
            for _ in range(5):
                run_code(url, "1 + 1")
            latencies, fuel, inner = [], [], []
            phase_end = time.monotonic() + args.budget_s
            for _ in range(args.calls):
                report, stats, ms = run_code(url, "1 + 1")
                latencies.append(ms)
                fuel.append(report["fuel_used"])
                inner.append(stats["duration_us"] / 1000)
                if time.monotonic() > phase_end:
                    break
            print(f"trivial program, HTTP round trip: {summary(latencies)}")
            print(
                f"trivial program, in the sandbox:  {summary(inner)}; "
                f"fuel {statistics.median(fuel):,.0f}"
            )

            # 3. 100 tool calls from one program versus 100 requests.
            program = (
                "from tools import echo\n"
                "lengths = [echo.echo(text=f'line {i}')['length'] for i in range(100)]\n"
                "sum(lengths)"
            )
            in_code, separate, code_fuel = [], [], []
            phase_end = time.monotonic() + args.budget_s
            for _ in range(args.rounds):
                report, _, ms = run_code(url, program)
                assert report["tool_calls"] == 100, report
                in_code.append(ms)
                code_fuel.append(report["fuel_used"])
                started = time.perf_counter()
                for i in range(100):
                    call(url, "echo", {"text": f"line {i}"})
                separate.append((time.perf_counter() - started) * 1000)
                if time.monotonic() > phase_end:
                    break
            print(
                f"100 echo calls in one program:     {summary(in_code)}; "
                f"fuel {statistics.median(code_fuel):,.0f}"
            )
            print(f"100 echo calls as 100 requests:    {summary(separate)}")
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
