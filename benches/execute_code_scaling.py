#!/usr/bin/env python3
"""execute_code across cores: one sandbox process versus one single-threaded sandbox process per
core, both behind the gateway, in one run (issue 13; the analysis is in benches/PROFILE.md).

Each call instantiates CPython from a memory image mapped copy-on-write. A copy-on-write fault
on a page already mapped read-only must flush that page from the TLB of every other CPU running
the same process, by inter-processor interrupt. In one multi-threaded sandbox, two calls running
at once on two cores interrupt each other on every such fault (hundreds per call); in
single-threaded processes, one per core, they never do. This script measures both layouts with
the same gateway configuration, wrk and body checks as benches/report.py:

  * `one`: one sandbox (a tokio worker per core, as `mcp-sandbox serve` starts by default);
  * `per-core`: one sandbox per core, each with TOKIO_WORKER_THREADS=1, listed as replicas of
    the same tool sets in the gateway, which sends each call to the next one (round robin);
  * `processes`: one `mcp-sandbox serve --processes <cores>`: the same single-threaded workers,
    started by the sandbox itself on one port (SO_REUSEPORT).

For each layout and connection count: req/s, p50/p99, and the server CPU per call (gateway and
sandboxes, user + system, from /proc) with the minor page faults per call. Rounds alternate the
layouts so that other load on the machine hits both alike.

    python3 benches/execute_code_scaling.py                       # release binaries
    DURATION=4 CONNS=1,2,16 ROUNDS=2 python3 benches/execute_code_scaling.py
    # and a perf profile of the sandboxes during each measurement (perf-<layout>-<conn>.data):
    PERF="record -F 2000 -g" ROUNDS=1 python3 benches/execute_code_scaling.py

Needs the release binaries and the tools (benches/report.sh builds both, or
`cargo build --release -p mcp-gateway -p mcp-sandbox` and scripts/build-tools.sh) and wrk.
A bad response fails the run (exit 1), as in report.py.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import harness as h

PROGRAM = "print('hello')"
LIMITS = ("limits: {max_in_flight_per_caller: 1024, max_buffered: 256MiB, "
          "max_buffered_per_caller: 256MiB}\n")


def main():
    duration = float(os.environ.get("DURATION", "4"))
    conns = [int(c) for c in os.environ.get("CONNS", "1,2,16").split(",")]
    rounds = int(os.environ.get("ROUNDS", "2"))
    cores = os.cpu_count() or 1
    sets = {"code": h.REPO / "policies/toolsets/code.yaml"}
    with tempfile.TemporaryDirectory(prefix="bench-exec-scaling-") as tmp:
        work = Path(tmp)
        stack = h.Stack(work, os.environ.get("PROFILE", "release"))
        try:
            one = [stack.sandbox("sandbox", sets)]
            per_core = [stack.sandbox(f"sandbox-core{i}", sets, env={"TOKIO_WORKER_THREADS": "1"})
                        for i in range(cores)]
            supervised = stack.sandbox("sandbox-processes", sets,
                                       env={"MCP_SANDBOX_PROCESSES": str(cores)})
            processes = [WithWorkers(supervised)]
            layouts = {
                "one": (one, stack.gateway("gateway-one", one, ["code"], extra=LIMITS)),
                "per-core": (per_core, stack.gateway("gateway-per-core", per_core, ["code"], extra=LIMITS)),
                "processes": (processes, stack.gateway("gateway-processes", [supervised], ["code"], extra=LIMITS)),
            }
            key = stack.api_key()
            body = h.call_body("execute_code", {"language": "python", "code": PROGRAM})
            auth = {"Authorization": f"Bearer {key}"}
            for sandboxes, gw in layouts.values():
                # The gateways notice the new key file on their next look at the key directory.
                h.wait_until(f"{gw.name} accepting the key", lambda: h.http(
                    "POST", f"{gw.url}/mcp", h.mcp_body("ping"), {
                        **auth, "Content-Type": "application/json",
                        "Accept": "application/json, text/event-stream"})[0] == 200, 60)
                h.wrk(f"{gw.url}/mcp", body, work, headers=auth, conns=2 * len(sandboxes),
                      duration=1, expect="hello")
            print(f"{cores} cores; load average at start {loadavg()}", flush=True)
            for r in range(rounds):
                for c in conns:
                    for name, (sandboxes, gw) in layouts.items():
                        procs = [gw, *sandboxes]
                        before = [p.stat() for p in procs]
                        perf = start_perf(name, c, sandboxes, duration)
                        res = h.wrk(f"{gw.url}/mcp", body, work, headers=auth, conns=c,
                                    duration=duration, expect="hello")
                        after = [p.stat() for p in procs]
                        if perf:
                            perf.wait(timeout=60)
                        n = res["requests"]
                        cpu = sum(b["user_s"] + b["sys_s"] - a["user_s"] - a["sys_s"]
                                  for a, b in zip(before, after))
                        sys_s = sum(b["sys_s"] - a["sys_s"] for a, b in zip(before, after))
                        faults = sum(b["minflt"] - a["minflt"] for a, b in zip(before, after))
                        print(f"round {r} {name:9s} {c:3d} conn: {res['rps']:7.1f} req/s  "
                              f"p50 {res['p50_us'] / 1000:6.2f} ms  p99 {res['p99_us'] / 1000:7.2f} ms  "
                              f"CPU/call {cpu * 1e6 / n:6,.0f} us (kernel {sys_s * 1e6 / n:5,.0f})  "
                              f"faults/call {faults / n:4,.0f}  ({n} calls, 0 failed)", flush=True)
            print(f"load average at end {loadavg()}")
        except h.Failed as e:
            print(f"execute_code_scaling: FAILED requests\n{e}", file=sys.stderr)
            return 1
        finally:
            stack.close()
    return 0


class WithWorkers:
    """A `--processes` supervisor seen with its workers: CPU and faults summed over them (a
    parent's /proc stat counts only the children it has reaped)."""

    def __init__(self, proc):
        self.proc = proc
        self.pid = proc.pid
        self.name = proc.name

    def workers(self):
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    after = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(after[1]) == self.pid:
                    found.append(int(entry.name))
        return found

    def stat(self):
        total = self.proc.stat()
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total["user_s"] += int(fields[11]) / h.CLOCK_TICKS
            total["sys_s"] += int(fields[12]) / h.CLOCK_TICKS
            total["minflt"] += int(fields[7])
        return total


def start_perf(layout, conns, sandboxes, duration):
    """`perf $PERF -p <sandboxes> -o perf-<layout>-<conns>.data` for the measurement's duration."""
    args = os.environ.get("PERF")
    if not args:
        return None
    pids = ",".join(str(p) for s in sandboxes
                    for p in (s.workers() if isinstance(s, WithWorkers) else [s.pid]))
    return subprocess.Popen(
        ["perf", *args.split(), "-p", pids, "-o", f"perf-{layout}-{conns}.data", "--",
         "sleep", str(duration)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    sys.exit(main())
