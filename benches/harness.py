"""Shared parts of the benchmark scripts (benches/report.py, benches/guard.py): start the real
binaries on loopback, run wrk with benches/wrk/post.lua (which checks every response), read
CPU time and peak memory of a process from /proc.

Only the Python standard library. Every process started here is stopped by Stack.close().
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POST_LUA = REPO / "benches" / "wrk" / "post.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

BENCH_ROLE = "bench"
# The built tool components (scripts/build-tools.sh); BENCH_TOOLS points elsewhere, e.g. at
# the tools of an older checkout to measure its binaries.
TOOLS = Path(os.environ.get("BENCH_TOOLS", REPO / "target" / "tools"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=30):
    """One request; returns (status, body bytes)."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def wait_until(what, check, timeout):
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


class Proc:
    """A child process; `url` is what it announced (`... listening on <url>`) or was given."""

    def __init__(self, name, args, log_dir, env=None, announce=True, url=None, timeout=120):
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(
            [str(a) for a in args],
            cwd=REPO,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr_path.open("w"),
            text=True,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.url = url
        found = threading.Event()
        stdout_log = (log_dir / f"{name}.stdout.log").open("w")

        def drain():
            for line in self.popen.stdout:
                stdout_log.write(line)
                stdout_log.flush()
                m = re.search(r" listening on (\S+)", line)
                if announce and m and not found.is_set():
                    self.url = m.group(1).rstrip("/")
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if announce:
            deadline = time.monotonic() + timeout
            while not found.wait(0.05):
                if self.popen.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{name} did not start; its stderr ends:\n{self.tail()}")

    def tail(self, lines=30):
        try:
            return "".join(self.stderr_path.read_text(errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def cpu_seconds(self):
        """User + system CPU time of the process so far (all its threads)."""
        s = self.stat()
        return s["user_s"] + s["sys_s"]

    def stat(self):
        """User and system CPU seconds and minor page faults so far, from /proc/<pid>/stat."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return {"user_s": int(fields[11]) / CLOCK_TICKS, "sys_s": int(fields[12]) / CLOCK_TICKS,
                "minflt": int(fields[7])}

    def vm_hwm_kib(self):
        """Peak resident set size (VmHWM) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGINT)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()


class Stack:
    """Sandboxes, gateways and peers of one run, in `work`; binaries from target/<profile>."""

    def __init__(self, work, profile):
        self.work = Path(work)
        self.bin = REPO / "target" / profile
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs = []
        for b in ("mcp-gateway", "mcp-sandbox"):
            if not (self.bin / b).exists():
                sys.exit(f"{self.bin / b} is missing: build it first (cargo build -p mcp-gateway -p mcp-sandbox)")
        (self.work / "keys").mkdir(exist_ok=True)
        (self.work / "session.key").write_text("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")

    def start(self, name, args, **kw):
        p = Proc(name, args, self.logs, **kw)
        self.procs.append(p)
        return p

    def close(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs.clear()

    def policy(self, toolsets, roles=(BENCH_ROLE, "mcp-user")):
        """An access policy granting `toolsets` to `roles`, without rate limits."""
        path = self.work / f"access-{'-'.join(sorted(toolsets))}.yaml"
        path.write_text(
            "toolsets:\n" + "".join(f"  {t}: {{ roles: [{', '.join(roles)}] }}\n" for t in toolsets)
        )
        return path

    def sandbox(self, name, manifests, env=None, modules=None, max_concurrent=16):
        """Starts mcp-sandbox serving the tool set manifests {name: text or Path}."""
        sets = self.work / f"{name}-toolsets"
        sets.mkdir(exist_ok=True)
        for set_name, manifest in manifests.items():
            target = sets / f"{set_name}.yaml"
            if isinstance(manifest, Path):
                target.symlink_to(manifest)
            else:
                target.write_text(manifest)
        return self.start(
            name,
            [
                self.bin / "mcp-sandbox", "serve",
                "--listen", "127.0.0.1:0",
                "--toolsets", sets,
                "--modules", modules or TOOLS,
                "--policy", self.policy(list(manifests)),
                "--workspaces", self.work / "workspaces",
                "--cache", REPO / "target" / "wasm-cache",
                "--max-concurrent", str(max_concurrent),
                "--max-queue", "1024",
                "--watch-interval", "600s",
            ],
            env=env,
            timeout=600,
        )

    def gateway(self, name, sandboxes, toolsets, oidc_issuer=None, env=None, audit="off", extra=""):
        """Starts mcp-gateway in front of `sandboxes` (Procs), granting `toolsets`; `extra` is
        more YAML for its configuration."""
        port = free_port()
        listed = ", ".join(f"{{name: sb{i}, url: '{s.url}'}}" for i, s in enumerate(sandboxes))
        oidc = (
            f"oidc: {{issuer: '{oidc_issuer}', audience: mcp-gateway}}\n" if oidc_issuer else ""
        )
        config = self.work / f"{name}.yaml"
        config.write_text(
            f"listen: 127.0.0.1:{port}\n"
            f"sandboxes: [{listed}]\n"
            f"policy: {self.policy(toolsets)}\n"
            f"keys: {{dir: keys}}\n"
            f"session: {{secret_file: session.key}}\n"
            f"audit: {{output: {audit}}}\n"
            f"server: {{threads: 2, grace_period: 0s, shutdown_timeout: 1s}}\n" + oidc + extra
        )
        gw = self.start(name, [self.bin / "mcp-gateway", "serve", "--config", config], env=env)
        wait_until(f"{name} /ready", lambda: http("GET", f"{gw.url}/ready")[0] == 200, 60)
        return gw

    def api_key(self, user="bench", role=BENCH_ROLE):
        out = subprocess.run(
            [self.bin / "mcp-gateway", "keys", "--dir", self.work / "keys", "create",
             "--user", user, "--role", role, "--expires", "1d", "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
        return json.loads(out)["key"]


def mcp_body(method, params=None, rid=1):
    body = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        body["params"] = params
    return body


def call_body(tool, arguments):
    return mcp_body("tools/call", {"name": tool, "arguments": arguments})


def direct_body(tool, arguments):
    return {"tool": tool, "arguments": arguments, "user": "bench", "roles": [BENCH_ROLE]}


class Failed(Exception):
    """A run had bad responses (printed in the message)."""


def wrk(url, body, work, headers=None, conns=16, duration=3.0, expect=None, threads=1):
    """Runs wrk with post.lua; returns {rps, p50_us, p99_us, requests, bad}. Raises Failed when
    any response was bad (status, JSON-RPC error, isError, ok:false, missing `expect`)."""
    body_file = Path(work) / f"body-{abs(hash(json.dumps(body, sort_keys=True))) % 10**12}.json"
    if not body_file.exists():
        body_file.write_text(json.dumps(body))
    env = dict(os.environ, BODY_FILE=str(body_file),
               HEADERS="|".join(f"{k}: {v}" for k, v in (headers or {}).items()),
               EXPECT=expect or "")
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
           "--latency", "-s", str(POST_LUA), url]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 90)
    out = run.stdout + run.stderr
    bad = re.search(r"BAD_RESPONSES (\d+) of (\d+)", out)
    if run.returncode != 0 or not bad:
        raise Failed(f"wrk {url} ({conns} connections) exited {run.returncode}:\n{out}")
    lat = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", out, re.M))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_us": _us(lat["50"]),
        "p99_us": _us(lat["99"]),
        "requests": int(bad.group(2)),
        "bad": int(bad.group(1)),
    }


def _us(text):
    n = float(re.match(r"[\d.]+", text).group(0))
    return n * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[re.sub(r"[\d.]", "", text)]
