#!/usr/bin/env python3
"""The checks behind scripts/check-deploy.sh, one subcommand each (see that script for the order
and the tools). Runs in the venv the script makes (PyYAML, jsonschema, kubernetes-validate).
The checks live beside this file: manifests.py, metrics.py, and here (copies, json).

  copies [--write]        generated copies match their sources (or rewrite them)
  rendered-rules FILE     the chart's PrometheusRule carries exactly rules.yaml's groups
  rule-tests              every alert (each severity tier) fires in a case of rules.test.yaml
  validate FILE           rendered objects: Kubernetes schemas, CRD models, cross-references,
                          the security baseline
  configs FILE            rendered gateway configs (through `mcp-gateway check-config`), tool set
                          manifests and the environment variables the binaries read
  metrics                 rules and dashboard query only metrics (and labels) the code exports
  json                    dashboard and Keycloak realm

Every problem is printed as one line naming the file or object; the exit status is 1 if any.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from common import CHART, DASHBOARD, POLICIES, PROM_RULES, REALM, RULES, load_docs, problem, problems, rel
from manifests import cmd_configs, cmd_validate
from metrics import cmd_metrics

# ---------------------------------------------------------------------------------------------
# copies


PROM_RULES_HEADER = """\
# Generated from rules.yaml by `scripts/check-deploy.sh --sync`: edit rules.yaml, then sync.
# The alert rules as a PrometheusRule for the Prometheus Operator (`kubectl apply -f` it in the
# namespace your Prometheus reads rules from, with the labels its ruleSelector wants). The Helm
# chart renders the same rules with monitoring.prometheusRule.enabled.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: mcp-gateway
  labels:
    app.kubernetes.io/name: mcp-gateway
    app.kubernetes.io/part-of: mcp-gateway
spec:
"""


def prometheus_rule_text() -> str:
    lines = RULES.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "\n".join(("  " + line) if line.strip() else "" for line in lines[start:])
    return PROM_RULES_HEADER + body + "\n"


def expected_copies() -> dict[Path, str]:
    """Generated file -> the text it must have."""
    want: dict[Path, str] = {
        CHART / "files/policies/access.yaml": (POLICIES / "access.yaml").read_text(),
        CHART / "files/monitoring/rules.yaml": RULES.read_text(),
        CHART / "files/monitoring/grafana-dashboard.json": DASHBOARD.read_text(),
        PROM_RULES: prometheus_rule_text(),
    }
    for src in sorted((POLICIES / "toolsets").glob("*.yaml")):
        want[CHART / "files/policies/toolsets" / src.name] = src.read_text()
    return want


def cmd_copies(args: argparse.Namespace) -> None:
    want = expected_copies()
    stale = [p for p in (CHART / "files/policies/toolsets").glob("*.yaml") if p not in want]
    for path, text in want.items():
        if path.exists() and path.read_text() == text:
            continue
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"  wrote {rel(path)}", file=sys.stderr)
        else:
            problem(f"{rel(path)} is not up to date with its source: run scripts/check-deploy.sh --sync")
    for path in stale:
        if args.write:
            path.unlink()
            print(f"  removed {rel(path)}", file=sys.stderr)
        else:
            problem(f"{rel(path)} has no source in policies/toolsets: run scripts/check-deploy.sh --sync")
    # Same groups, parsed: guards against the text transformation itself going wrong.
    if not args.write and PROM_RULES.exists():
        groups = yaml.safe_load(RULES.read_text())["groups"]
        if yaml.safe_load(PROM_RULES.read_text())["spec"]["groups"] != groups:
            problem(f"{rel(PROM_RULES)}: spec.groups differ from {rel(RULES)}")


def cmd_rendered_rules(args: argparse.Namespace) -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rendered = [d for d in load_docs(args.file) if d.get("kind") == "PrometheusRule"]
    if len(rendered) != 1:
        problem(f"{args.file.name}: expected one PrometheusRule, found {len(rendered)}")
        return
    if rendered[0]["spec"]["groups"] != groups:
        problem(f"{args.file.name}: the chart's PrometheusRule groups differ from {rel(RULES)}")


def cmd_rule_tests(args: argparse.Namespace) -> None:
    """promtool only runs the cases that exist: this makes a missing case an error. Every alert
    rule, by (name, severity), must be expected to fire in some case."""
    tests_file = RULES.with_name("rules.test.yaml")
    rules = [(r["alert"], (r.get("labels") or {}).get("severity", ""))
             for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    fired: set[tuple[str, str]] = set()
    named: set[str] = set()
    for case in yaml.safe_load(tests_file.read_text()).get("tests") or []:
        for t in case.get("alert_rule_test") or []:
            named.add(t["alertname"])
            for a in t.get("exp_alerts") or []:
                fired.add((t["alertname"], (a.get("exp_labels") or {}).get("severity", "")))
    for name, severity in rules:
        if (name, severity) not in fired:
            problem(f"{rel(tests_file)}: no case where {name} (severity {severity or 'none'}) fires; add one")
    for name in sorted(named - {n for n, _ in rules}):
        problem(f"{rel(tests_file)}: tests alert {name}, which {rel(RULES)} does not define")
    print(f"  {len(rules)} alert rules ({len({n for n, _ in rules})} names), each with a firing case", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# json


def cmd_json(args: argparse.Namespace) -> None:
    try:
        dash = json.loads(DASHBOARD.read_text())
    except json.JSONDecodeError as e:
        problem(f"{rel(DASHBOARD)}: not JSON: {e}")
        dash = None
    if dash:
        variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        ds = variables.get("datasource", {})
        if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            problem(f"{rel(DASHBOARD)}: needs a Prometheus data source variable named datasource")
        ids = [p["id"] for p in dash["panels"]]
        if len(ids) != len(set(ids)):
            problem(f"{rel(DASHBOARD)}: panel ids are not unique")
        for p in dash["panels"]:
            g = p["gridPos"]
            if g["x"] + g["w"] > 24:
                problem(f"{rel(DASHBOARD)}: panel {p['title']!r} is wider than the grid")
            if p["type"] == "row":
                continue
            if (p.get("datasource") or {}).get("uid") != "${datasource}":
                problem(f"{rel(DASHBOARD)}: panel {p['title']!r} does not use the datasource variable")
            if not p.get("targets"):
                problem(f"{rel(DASHBOARD)}: panel {p['title']!r} has no query")
        print(f"  {rel(DASHBOARD)}: {len(dash['panels'])} panels", file=sys.stderr)
    try:
        realm = json.loads(REALM.read_text())
    except (OSError, json.JSONDecodeError) as e:
        problem(f"{rel(REALM)}: {e}")
        return
    check_realm(realm)


def check_realm(realm: dict) -> None:
    where = rel(REALM)
    if realm.get("realm") != "mcp-realm":
        problem(f"{where}: realm must be mcp-realm")
    roles = {r["name"] for r in realm.get("roles", {}).get("realm", [])}
    for role in ("mcp-admin", "mcp-log-analyst", "mcp-viewer"):
        if role not in roles:
            problem(f"{where}: realm role {role} is missing")
    policy = yaml.safe_load((POLICIES / "access.yaml").read_text())
    granted = {r for rule in list((policy.get("toolsets") or {}).values()) + list((policy.get("tools") or {}).values())
               for r in rule.get("roles", [])} - {"*"}
    for role in sorted(granted - roles):
        problem(f"{where}: policies/access.yaml grants role {role}, which the realm does not define")
    clients = {c["clientId"]: c for c in realm.get("clients", [])}
    client = clients.get("mcp-gateway-client")
    if not client:
        problem(f"{where}: client mcp-gateway-client is missing")
        return
    for key, want in (("publicClient", False), ("serviceAccountsEnabled", True), ("standardFlowEnabled", True),
                      ("implicitFlowEnabled", False)):
        if client.get(key) is not want:
            problem(f"{where}: mcp-gateway-client.{key} must be {str(want).lower()}")
    if client.get("secret"):
        problem(f"{where}: mcp-gateway-client carries a secret; leave it out (Keycloak generates one)")
    mappers = {m["protocolMapper"]: m.get("config", {}) for m in client.get("protocolMappers", [])}
    aud = mappers.get("oidc-audience-mapper", {})
    if aud.get("included.custom.audience") != "mcp-gateway" or aud.get("access.token.claim") != "true":
        problem(f"{where}: needs an oidc-audience-mapper adding mcp-gateway to access tokens")
    realm_roles = mappers.get("oidc-usermodel-realm-role-mapper", {})
    if realm_roles.get("claim.name") != "realm_access.roles" or realm_roles.get("access.token.claim") != "true":
        problem(f"{where}: needs a realm role mapper into realm_access.roles")
    client_roles = mappers.get("oidc-usermodel-client-role-mapper", {})
    if client_roles.get("claim.name") != "resource_access.${client_id}.roles":
        problem(f"{where}: needs a client role mapper into resource_access.${{client_id}}.roles")
    if not any(c.get("claim.name") == "preferred_username" for c in mappers.values()):
        problem(f"{where}: needs a mapper for preferred_username")
    for u in realm.get("users", []):
        if u.get("credentials"):
            problem(f"{where}: user {u.get('username')} has credentials; the export carries none")
    print(f"  {where}: realm {realm.get('realm')}, {len(roles)} realm roles, {len(realm.get('users', []))} users",
          file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("copies")
    p.add_argument("--write", action="store_true")
    p.set_defaults(fn=cmd_copies)
    p = sub.add_parser("rendered-rules")
    p.add_argument("file", type=Path)
    p.set_defaults(fn=cmd_rendered_rules)
    p = sub.add_parser("rule-tests")
    p.set_defaults(fn=cmd_rule_tests)
    p = sub.add_parser("validate")
    p.add_argument("file", type=Path)
    p.add_argument("--kube-versions", required=True)
    p.add_argument("--crd-validator", type=Path, required=True)
    p.add_argument("--node-modules", type=Path, required=True)
    p.set_defaults(fn=cmd_validate)
    p = sub.add_parser("configs")
    p.add_argument("file", type=Path)
    p.add_argument("--gateway", type=Path)
    p.set_defaults(fn=cmd_configs)
    p = sub.add_parser("metrics")
    p.set_defaults(fn=cmd_metrics)
    p = sub.add_parser("json")
    p.set_defaults(fn=cmd_json)
    args = ap.parse_args()
    args.fn(args)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
