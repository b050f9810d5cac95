#!/usr/bin/env python3
"""Runs the chart's pods on this machine: the real mcp-sandbox and mcp-gateway with the rendered
environment, arguments, configuration and volume layout, every container path mapped under a
temporary root. ConfigMaps and Secrets are laid out as the kubelet mounts them (files are
symlinks through `..data`). With `topology: separate` the sandbox's TCP port becomes a free
loopback port and the gateway is pointed there (standing in for the Service's cluster IP).
Checks that the probes answer, that an API key in the key directory authenticates, that
tools/list shows each tool set's tools, and that a tool which uses the caller's workspace runs.

With --logs-out FILE it also makes one request with a forged key (a failed login) and keeps the
gateway container's output (stdout and stderr, as `kubectl logs` shows them: audit lines mixed
with log lines) for the checks of docs/operations.md's log queries.

Usage: smoke.py RENDERED.yaml --bin-dir target/debug --modules target/tools [--cache DIR] [--logs-out FILE]
(scenarios that take the components from a volume or serve TLS are not run here)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml


def fail(msg: str, logs: list[Path] = ()) -> None:
    print(f"  FAIL smoke: {msg}", file=sys.stderr)
    for log in logs:
        if log.exists():
            print(f"  --- last lines of {log.name}:", file=sys.stderr)
            for line in log.read_text(errors="replace").splitlines()[-25:]:
                print(f"  | {line}", file=sys.stderr)
    sys.exit(1)


def kubelet_mount(target: Path, files: dict[str, str]) -> None:
    """Writes files the way the kubelet mounts a ConfigMap or Secret volume."""
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / "..2026_01_01_00_00_00.000000000"
    stamp.mkdir()
    for name, text in files.items():
        (stamp / name).write_text(text)
    (target / "..data").symlink_to(stamp.name)
    for name in files:
        (target / name).symlink_to(f"..data/{name}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what: str, deadline_s: float, probe, logs: list[Path]):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    fail(f"timed out after {deadline_s:.0f}s waiting for {what}", logs)


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict | str]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    req.add_header("accept", "application/json, text/event-stream")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered", type=Path)
    ap.add_argument("--bin-dir", type=Path, required=True)
    ap.add_argument("--modules", type=Path, required=True)
    ap.add_argument("--cache", type=Path, help="compiled-component cache to reuse (default: a fresh one)")
    ap.add_argument("--logs-out", type=Path, help="keep the gateway container's output here")
    args = ap.parse_args()
    args.bin_dir = args.bin_dir.resolve()

    docs = [d for d in yaml.safe_load_all(args.rendered.read_text()) if d]
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    # Container name -> (container, its pod's volumes by name).
    containers: dict[str, tuple[dict, dict]] = {}
    for d in docs:
        if d["kind"] == "Deployment":
            pod = d["spec"]["template"]["spec"]
            for c in (pod.get("initContainers") or []) + pod["containers"]:
                containers[c["name"]] = (c, {v["name"]: v for v in pod["volumes"]})
    if set(containers) != {"mcp-gateway", "mcp-sandbox"}:
        fail(f"expected containers mcp-gateway and mcp-sandbox, found {sorted(containers)}")
    root = Path(tempfile.mkdtemp(prefix="mcp-smoke-"))
    logs = [root / "sandbox.log", root / "gateway.log"]
    procs: list[subprocess.Popen] = []

    def host(path: str) -> str:
        return str(root) + path

    def remap(value):
        """Container paths in config values and variables -> under the temporary root."""
        if isinstance(value, dict):
            return {k: remap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [remap(v) for v in value]
        if isinstance(value, str) and value.startswith("unix:/"):
            return "unix:" + host(value[5:])
        if isinstance(value, str) and value.startswith("/"):
            return host(value)
        return value

    try:
        key_id = key = None
        # Volumes, as the kubelet would prepare them.
        for c, volumes in containers.values():
            for m in c.get("volumeMounts") or []:
                target = Path(host(m["mountPath"]))
                if target.exists() or target.is_symlink():
                    continue
                v = volumes[m["name"]]
                if "configMap" in v:
                    data = dict(configmaps[v["configMap"]["name"]])
                    if "gateway.yaml" in data:
                        data["gateway.yaml"] = yaml.safe_dump(remap(yaml.safe_load(data["gateway.yaml"])))
                    kubelet_mount(target, data)
                elif m["name"] == "session":
                    kubelet_mount(target, {"session.key": base64.b64encode(secrets.token_bytes(32)).decode() + "\n"})
                elif m["name"] == "sandbox-token":
                    # The gateway and the sandbox mount it at the same path here, so they share it.
                    kubelet_mount(target, {"token": secrets.token_hex(32) + "\n"})
                elif m["name"] == "api-keys":
                    src = root / "key-source"
                    out = subprocess.run([str(args.bin_dir / "mcp-gateway"), "keys", "--dir", str(src), "create",
                                          "--user", "smoke", "--role", "mcp-admin", "--expires", "1d", "--json"],
                                         capture_output=True, text=True)
                    if out.returncode != 0:
                        fail(f"keys create: {out.stderr.strip()}")
                    made = json.loads(out.stdout)
                    key_id, key = made["id"], made["key"]
                    kubelet_mount(target, {f"{key_id}.json": (src / f"{key_id}.json").read_text()})
                elif m["name"] == "modules":
                    fail("the smoke test expects the components in the image (sandbox.modules.volume unset)")
                else:
                    target.mkdir(parents=True, exist_ok=True)
        sandbox = containers["mcp-sandbox"][0]
        modules_path = next(e["value"] for e in sandbox["env"] if e["name"] == "MCP_SANDBOX_MODULES")
        Path(host(modules_path)).parent.mkdir(parents=True, exist_ok=True)
        Path(host(modules_path)).symlink_to(args.modules.resolve())

        def env_of(c: dict) -> dict[str, str]:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            for e in c.get("env") or []:
                if "valueFrom" in e:
                    if e["valueFrom"].get("fieldRef", {}).get("fieldPath") != "metadata.name":
                        fail(f"{c['name']}: variable {e['name']} comes from {e['valueFrom']}, which the smoke test cannot supply")
                    env[e["name"]] = "mcp-smoke-0"
                else:
                    env[e["name"]] = remap(e["value"])
            return env

        senv = env_of(sandbox)
        if args.cache:
            senv["MCP_SANDBOX_CACHE"] = str(args.cache.resolve())
        listen = senv["MCP_SANDBOX_LISTEN"]
        sandbox_url = None
        if not listen.startswith("unix:"):
            declared = sandbox["ports"][0]["containerPort"]
            if listen != f"0.0.0.0:{declared}":
                fail(f"the sandbox listens on {listen}, not on its declared port {declared}")
            sport = free_port()
            senv["MCP_SANDBOX_LISTEN"] = f"127.0.0.1:{sport}"
            sandbox_url = f"http://127.0.0.1:{sport}"
        with open(logs[0], "w") as log:
            procs.append(subprocess.Popen([str(args.bin_dir / "mcp-sandbox"), *sandbox["args"]],
                                          env=senv, stdout=log, stderr=log, cwd=root))
        if sandbox_url:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = sandbox[probe]["httpGet"]["path"]
                wait(f"the sandbox's {probe} ({path})", 300,
                     lambda: http("GET", sandbox_url + path)[0] == 200 or procs[0].poll() is not None, logs)
        else:
            socket_path = Path(listen.removeprefix("unix:"))
            wait("the sandbox's socket", 300, lambda: socket_path.exists() or procs[0].poll() is not None, logs)
        if procs[0].poll() is not None:
            fail(f"mcp-sandbox exited with {procs[0].returncode}", logs)
        workers = int(senv.get("MCP_SANDBOX_PROCESSES", "1"))
        if workers > 1:
            # sandbox.processes: the container's process supervises that many workers, each
            # loading the tool sets before it takes connections on the shared port.
            wait(f"{workers} sandbox worker processes ready", 300,
                 lambda: logs[0].read_text(errors="replace").count("sandbox ready") >= workers
                 or procs[0].poll() is not None, logs)
            if procs[0].poll() is not None:
                fail(f"mcp-sandbox exited with {procs[0].returncode}", logs)
        if sandbox_url:
            # Reachable over the network: only the gateway's token opens the tool API.
            status, _ = http("GET", sandbox_url + "/v1/tools")
            if status != 401:
                fail(f"the sandbox's tool API answered {status} without the gateway's token", logs)

        gateway = containers["mcp-gateway"][0]
        genv = env_of(gateway)
        if sandbox_url:
            # Stands in for the Service: its cluster IP and port lead to the sandbox's port.
            rendered = genv.get("MCP_GATEWAY__SANDBOXES__0__URL", "")
            if rendered and not rendered.startswith("http://$("):
                fail(f"unexpected sandbox URL {rendered}")
            genv["MCP_GATEWAY__SANDBOXES__0__URL"] = sandbox_url
        port = free_port()
        genv["MCP_GATEWAY__LISTEN"] = f"127.0.0.1:{port}"
        gateway_ports = {p["name"]: p["containerPort"] for p in gateway.get("ports") or []}
        admin_base = None
        if "metrics" in gateway_ports:
            admin_port = free_port()
            genv["MCP_GATEWAY__ADMIN_LISTEN"] = f"127.0.0.1:{admin_port}"
            admin_base = f"http://127.0.0.1:{admin_port}"
        with open(logs[1], "w") as log:
            procs.append(subprocess.Popen([str(args.bin_dir / "mcp-gateway"), *gateway["args"]],
                                          env=genv, stdout=log, stderr=log, cwd=root))
        base = f"http://127.0.0.1:{port}"
        probe = gateway["readinessProbe"]["httpGet"]["path"]
        wait("the gateway's readiness probe", 60,
             lambda: http("GET", base + probe)[0] == 200 or procs[1].poll() is not None, logs)
        if procs[1].poll() is not None:
            fail(f"mcp-gateway exited with {procs[1].returncode}", logs)
        status, _ = http("GET", base + gateway["livenessProbe"]["httpGet"]["path"])
        if status != 200:
            fail(f"liveness probe answered {status}", logs)

        status, body = http("POST", base + "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, key)
        if status != 200 or not isinstance(body, dict) or "result" not in body:
            fail(f"tools/list with the projected API key: HTTP {status}: {body}", logs)
        names = {t["name"] for t in body["result"]["tools"]}
        toolsets = configmaps[containers["mcp-sandbox"][1]["toolsets"]["configMap"]["name"]]
        want = {"code.yaml": "execute_code", "examples.yaml": "echo", "log-analysis.yaml": "get_workspace_info"}
        for manifest, tool in want.items():
            if manifest in toolsets and tool not in names:
                fail(f"tools/list lacks {tool} (tool set {manifest}); it lists {sorted(names)}", logs)
        status, body = http("POST", base + "/mcp", {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                    "params": {"name": "get_workspace_info", "arguments": {}}}, key)
        if status != 200 or body.get("result", {}).get("isError") is not False:
            fail(f"tools/call get_workspace_info: HTTP {status}: {body}", logs)
        status, text = http("GET", (admin_base or base) + "/metrics")
        if status != 200 or "mcp_sandbox_up" not in str(text):
            fail(f"/metrics answered {status} without mcp_sandbox_up", logs)
        if admin_base:
            status, _ = http("GET", base + "/metrics")
            if status != 404:
                fail(f"/metrics on the MCP port answered {status}; it belongs on the metrics port only", logs)
        if args.logs_out:
            forged = "mcpk_000000000000_" + "A" * 43
            status, _ = http("POST", base + "/mcp", {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, forged)
            if status != 401:
                fail(f"a forged key got HTTP {status}", logs)
        guarded = "; the sandbox refuses callers without the token" if sandbox_url else ""
        guarded += f"; {workers} sandbox worker processes" if workers > 1 else ""
        print(f"  {args.rendered.stem}: ready; key {key_id} listed {len(names)} tools; a workspace tool ran{guarded}",
              file=sys.stderr)
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if args.logs_out and logs[1].exists():
            shutil.copy(logs[1], args.logs_out)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
