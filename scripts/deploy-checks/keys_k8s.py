#!/usr/bin/env python3
"""The Kubernetes key lifecycle of docs/operations.md, end to end on this machine:
deploy/kubernetes/mcp-keys with the real mcp-gateway binary, against a stand-in for the API
server's Secret endpoints (no cluster is reachable from CI: `kubectl get/create/replace` of
Secrets kept in a JSON file, with the API server's resourceVersion conflict rule), and the
rendered chart's key volume (the Secret the script writes is the one the chart mounts, optional).

  keys_k8s.py RENDERED.yaml --gateway target/debug/mcp-gateway

Checks (and the backup/restore drill CI runs): create makes the labelled Secret and prints the key once; list/--csv show it with its
expiry; update changes roles in place (same id); rotate --older-than/--all and revoke change the
Secret; a concurrent change makes the write fail, prints no key and keeps the Secret; the
rendered Deployment mounts that Secret as an optional volume at the config's key directory.
The `..data` swap of such a Secret reaching a running gateway is proxy/tests/all/key_rotation_k8s.rs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy/kubernetes/mcp-keys"

# A stand-in for the Secret endpoints kubectl calls: state in $FAKE_API (a JSON file).
KUBECTL = r'''#!/usr/bin/env python3
import json, os, sys
state_file = os.environ["FAKE_API"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {"rv": 1, "secrets": {}}
args = sys.argv[1:]
ns = "default"
if args[:1] == ["-n"]:
    ns, args = args[1], args[2:]
def save():
    json.dump(state, open(state_file, "w"))
def key(name):
    return f"{ns}/{name}"
if args[:2] == ["get", "secret"]:
    obj = state["secrets"].get(key(args[2]))
    if obj is None:
        print(f'Error from server (NotFound): secrets "{args[2]}" not found', file=sys.stderr)
        sys.exit(1)
    print(json.dumps(obj))
    if os.environ.get("FAKE_RACE"):
        # Someone else writes the Secret right after this read.
        state["rv"] += 1
        obj["metadata"]["resourceVersion"] = str(state["rv"])
        save()
    sys.exit(0)
if args[:1] in (["create"], ["replace"]) and args[1:] == ["-f", "-"]:
    obj = json.load(sys.stdin)
    name = obj["metadata"]["name"]
    old = state["secrets"].get(key(name))
    if args[0] == "create" and old is not None:
        print(f'Error from server (AlreadyExists): secrets "{name}" already exists', file=sys.stderr)
        sys.exit(1)
    if args[0] == "replace":
        if old is None:
            print(f'Error from server (NotFound): secrets "{name}" not found', file=sys.stderr)
            sys.exit(1)
        if obj["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
            print(f'Error from server (Conflict): Operation cannot be fulfilled on secrets "{name}": '
                  'the object has been modified; please apply your changes to the latest version and try again',
                  file=sys.stderr)
            sys.exit(1)
    state["rv"] += 1
    obj["metadata"]["resourceVersion"] = str(state["rv"])
    obj["metadata"]["namespace"] = ns
    state["secrets"][key(name)] = obj
    save()
    print(f"secret/{name} {'created' if args[0] == 'create' else 'replaced'}")
    sys.exit(0)
print(f"stand-in kubectl: unsupported {args}", file=sys.stderr)
sys.exit(2)
'''

problems: list[str] = []


def check(ok: bool, msg: str) -> None:
    if not ok:
        problems.append(msg)
        print(f"  FAIL keys: {msg}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered", type=Path, help="the chart rendered as release mcp-gateway")
    ap.add_argument("--gateway", type=Path, required=True)
    args = ap.parse_args()

    docs = [d for d in yaml.safe_load_all(args.rendered.read_text()) if d]
    deploy = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "mcp-gateway")
    pod = deploy["spec"]["template"]["spec"]
    volume = next((v for v in pod["volumes"] if v["name"] == "api-keys"), None)
    sources = ((volume or {}).get("projected") or {}).get("sources") or []
    secrets = [s["secret"] for s in sources if "secret" in s]
    check(any(s["name"] == "mcp-gateway-api-keys" for s in secrets),
          f"the chart does not mount Secret mcp-gateway-api-keys (the script's default): {secrets}")
    check(all(s.get("optional") is True for s in secrets),
          f"every key Secret must be optional (a deleted Secret must not stop a pod start): {secrets}")
    gw = next(c for c in pod["containers"] if c["name"] == "mcp-gateway")
    mount = next((m["mountPath"] for m in gw["volumeMounts"] if m["name"] == "api-keys"), None)
    config = yaml.safe_load(next(d["data"]["gateway.yaml"] for d in docs
                                 if d["kind"] == "ConfigMap" and "gateway.yaml" in (d.get("data") or {})))
    check(mount == (config.get("keys") or {}).get("dir"),
          f"the key volume is mounted at {mount}, the gateway reads keys from {config.get('keys')}")

    with tempfile.TemporaryDirectory() as tmp:
        stub = Path(tmp) / "kubectl"
        stub.write_text(KUBECTL)
        stub.chmod(0o755)
        env = {**os.environ, "KUBECTL": str(stub), "FAKE_API": str(Path(tmp) / "api.json"),
               "MCP_GATEWAY": str(args.gateway.resolve())}
        env.pop("FAKE_RACE", None)

        def keys(*argv: str, race: bool = False) -> subprocess.CompletedProcess:
            e = dict(env, FAKE_RACE="1") if race else env
            return subprocess.run([str(SCRIPT), "-n", "mcp-shared", *argv], capture_output=True, text=True, env=e)

        def secret() -> dict:
            state = json.loads((Path(tmp) / "api.json").read_text())
            return state["secrets"].get("mcp-shared/mcp-gateway-api-keys") or {}

        def records() -> dict[str, dict]:
            return {n: json.loads(base64.b64decode(v)) for n, v in (secret().get("data") or {}).items()}

        r = keys("list")
        check(r.returncode == 0 and "no keys" in r.stdout, f"list before any key: {r.returncode} {r.stdout}{r.stderr}")
        r = keys("create", "--user", "alice", "--role", "mcp-user", "--expires", "90d", "--json")
        check(r.returncode == 0, f"create: {r.stderr}")
        made = json.loads(r.stdout) if r.returncode == 0 else {}
        kid, key = made.get("id", ""), made.get("key", "")
        check(key.startswith("mcpk_"), f"create printed no key: {r.stdout}")
        labels = (secret().get("metadata") or {}).get("labels") or {}
        check(labels.get("app") == "mcp-api-key", f"the Secret is not labelled app=mcp-api-key: {labels}")
        recs = records()
        check(list(recs) == [f"{kid}.json"], f"the Secret holds {list(recs)}, expected {kid}.json")
        check(key not in json.dumps(secret()), "the Secret contains the key itself")
        r = keys("list")
        check(kid in r.stdout and "alice" in r.stdout and "90" in r.stdout, f"list: {r.stdout}")
        r = keys("list", "--csv")
        check(r.stdout.startswith("id,user,roles,created,expires,days_left,status") and f"{kid},alice" in r.stdout,
              f"list --csv: {r.stdout}")
        r = keys("update", kid, "--role", "mcp-user,mcp-log-analyst")
        check(r.returncode == 0 and records()[f"{kid}.json"]["roles"] == ["mcp-user", "mcp-log-analyst"],
              f"update: {r.stdout}{r.stderr} -> {records().get(f'{kid}.json')}")
        r = keys("rotate", "--older-than", "90d")
        check(r.returncode == 0 and "mcpk_" not in r.stdout, f"rotate --older-than 90d touched a new key: {r.stdout}")
        rv = secret()["metadata"]["resourceVersion"]
        # A concurrent writer: the replace must fail, print no key, and leave the Secret as it was.
        r = keys("create", "--user", "bob", "--role", "mcp-user", race=True)
        check(r.returncode == 1 and "mcpk_" not in r.stdout and "Conflict" in r.stderr,
              f"a concurrent change must fail the write and withhold the key: {r.returncode} {r.stdout}{r.stderr}")
        check(len(records()) == 1 and secret()["metadata"]["resourceVersion"] != rv,
              "the conflicting write changed the Secret")
        r = keys("rotate", "--all", "--grace", "1h", "--json")
        check(r.returncode == 0 and r.stdout.count("mcpk_") == 1 and len(records()) == 2,
              f"rotate --all: {r.stdout}{r.stderr}")
        r = keys("revoke", "--user", "alice")
        recs = records()
        check(r.returncode == 0 and all(x.get("revoked") for x in recs.values()),
              f"revoke --user alice left active keys: {recs}")
        r = keys("expiring", "--within", "7d")
        check(r.returncode == 0, f"expiring: {r.stderr}")

        # The backup/restore drill (docs/operations.md, "Backup and restore"): export, lose the
        # Secret, import into a new one, and get the same records back.
        keys("create", "--user", "carol", "--role", "mcp-user", "--expires", "30d")
        saved = records()
        backup = Path(tmp) / "keys-backup.json"
        r = keys("export", "--out", str(backup))
        check(r.returncode == 0 and backup.exists() and (backup.stat().st_mode & 0o777) == 0o600,
              f"export: {r.stderr}")
        check("mcpk_" not in backup.read_text(), "the backup holds a key secret")
        state_file = Path(tmp) / "api.json"
        state = json.loads(state_file.read_text())
        del state["secrets"]["mcp-shared/mcp-gateway-api-keys"]
        state_file.write_text(json.dumps(state))
        r = keys("list")
        check("no keys" in r.stdout, f"list after losing the Secret: {r.stdout}")
        r = keys("import", str(backup))
        check(r.returncode == 0, f"import: {r.stdout}{r.stderr}")
        check(records() == saved, "the restored Secret differs from the one backed up")
        r = keys("import", str(backup))
        check(r.returncode == 0 and records() == saved, f"importing the same backup again is a no-op: {r.stderr}")
    if not problems:
        print("  keys: mcp-keys create/list/--csv/update/rotate/revoke through the Secret; conflicts withhold keys; "
              "backup/restore drill restores identical records; the chart mounts that Secret, optional",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
