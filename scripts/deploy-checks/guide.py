#!/usr/bin/env python3
"""The operations guide's commands as checks: what docs/operations.md tells an SRE to type must
work on the chart as rendered for release `mcp-gateway` in namespace `mcp-shared` (the guide's
names), against the metrics the code exports and a real audit log.

  guide.py RENDERED.yaml... [--audit-log FILE]   (one rendering per topology)

- PromQL (```promql blocks): parses (promtool check rules), and every metric and label matcher
  is one our binaries export (or a standard kube_*/container_*/up series); `app` and `job` must
  name the binary that exports the metric.
- alerts: every alert of deploy/monitoring/rules.yaml has the section its runbook_url points at,
  and every alert-like heading names a real alert.
- oc/kubectl (```sh/bash blocks): every object named (deployment/mcp-gateway, route mcp-gateway,
  cronjob/..., application mcp-gateway, ...) is rendered by the chart (or is one of the Secrets
  the chart mounts and the docs create), every `-l` selector matches a rendered pod or a labelled
  object, every `-c` container exists in those pods, `-n` is the release's namespace, and the
  gateway paths passed to `mcp-gateway` inside a pod (--config, --dir) are the rendered ones.
- URLs: every `https://$GATEWAY_URL/<path>` is exposed by a rendered Route.
- `--set a.b=c`: every value path exists in the chart's values.yaml.
- log queries: every jq program runs on a real audit log (the smoke run's gateway output, audit
  and log lines mixed as `kubectl logs` shows them) and the failed-login, per-user and per-tool
  queries find what that run did; every field a LogQL `| json |` filter names is an audit field.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from common import CHART, REPO, RULES, load_docs, problem, rel
from metrics import EXTERNAL, JOBS, PENDING, Exported, promql_refs

DOC = REPO / "docs/operations.md"
ARGO = REPO / "deploy/argocd/application.yaml"
NAMESPACE = "mcp-shared"
# Namespaces the docs may name besides the release's: where Argo CD and cluster services live.
OTHER_NAMESPACES = {"openshift-gitops", "argocd", "openshift-logging", "openshift-monitoring", "monitoring"}
KINDS = {
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "route": "Route", "routes": "Route", "service": "Service", "svc": "Service", "services": "Service",
    "secret": "Secret", "secrets": "Secret", "cronjob": "CronJob", "cronjobs": "CronJob",
    "configmap": "ConfigMap", "cm": "ConfigMap", "configmaps": "ConfigMap",
    "application": "Application", "applications": "Application", "servicemonitor": "ServiceMonitor",
    "prometheusrule": "PrometheusRule", "hpa": "HorizontalPodAutoscaler",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler", "pdb": "PodDisruptionBudget",
    "networkpolicy": "NetworkPolicy", "pvc": "PersistentVolumeClaim", "ingress": "Ingress",
}
AUTH_REASONS = {"missing", "malformed", "expired", "bad_signature", "wrong_audience", "wrong_issuer", "revoked",
                "unknown_key"}


def blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, code, first line number) of every fenced block."""
    out, lang, buf, start = [], None, [], 0
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^```(\w*)\s*$", line)
        if m and lang is None:
            lang, buf, start = m.group(1) or "text", [], i + 1
        elif line.startswith("```") and lang is not None:
            out.append((lang, "\n".join(buf), start))
            lang = None
        elif lang is not None:
            buf.append(line)
    return out


def slug(heading: str) -> str:
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


# ---------------------------------------------------------------------------------------------
# PromQL


def check_promql(text: str) -> int:
    exprs: list[tuple[str, str]] = []
    for lang, code, line in blocks(text):
        if lang != "promql":
            continue
        for j, para in enumerate(re.split(r"\n\s*\n", code)):
            expr = "\n".join(l for l in para.splitlines() if not l.strip().startswith("#")).strip()
            if expr:
                exprs.append((f"{rel(DOC)}:{line} promql #{j + 1}", expr))
    if not exprs:
        problem(f"{rel(DOC)}: no ```promql blocks found")
        return 0
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "docs", "rules": [
            {"record": f"docs:q{i}", "expr": e} for i, (_, e) in enumerate(exprs)]}]}, f)
    out = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    Path(f.name).unlink()
    if out.returncode != 0:
        problem(f"{rel(DOC)}: a PromQL expression does not parse: {(out.stdout + out.stderr).strip()}")
    exported = {"proxy": Exported(REPO / "proxy/src", REPO / "proxy/auth/src"),
                "sandbox": Exported(REPO / "sandbox/src")}
    series = {b: e.series() for b, e in exported.items()}
    apps = {"mcp-gateway": "proxy", "mcp-sandbox": "sandbox"}
    for where, expr in exprs:
        refs, grouping = promql_refs(expr)
        known = {"job", "namespace", "pod", "instance", "container", "service", "endpoint", "app", "le"}
        for name, matchers in refs:
            if EXTERNAL.match(name):
                continue
            homes = [b for b in series if name in series[b]]
            if not homes and name in PENDING:
                known |= PENDING[name][1]
                continue
            if not homes:
                problem(f"{where}: metric {name} is not exported by mcp-gateway or mcp-sandbox")
                continue
            owner = JOBS.get(matchers.get("job", "")) or apps.get(matchers.get("app", ""))
            if owner is None:
                problem(f"{where}: {name} needs app=\"mcp-gateway\"|\"mcp-sandbox\" (or a job) to pick the binary")
                continue
            if owner not in homes:
                problem(f"{where}: {name} is not exported by {owner} (only by {homes})")
                continue
            labels = exported[owner].labels.get(series[owner][name], set())
            known |= labels
            for label in matchers:
                if label not in labels | known:
                    problem(f"{where}: {name} has no label {label!r} (it has {sorted(labels)})")
        for label in grouping - known:
            problem(f"{where}: groups by {label!r}, which none of its metrics has")
    return len(exprs)


def check_alerts(text: str) -> int:
    anchors = {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}
    alerts = set()
    for g in yaml.safe_load(RULES.read_text())["groups"]:
        for r in g["rules"]:
            if "alert" not in r:
                continue
            alerts.add(r["alert"])
            url = r.get("annotations", {}).get("runbook_url", "")
            anchor = url.split("#", 1)[1] if "#" in url else ""
            if not url.startswith("docs/operations.md#") or anchor not in anchors:
                problem(f"{rel(RULES)}: {r['alert']}'s runbook_url {url!r} has no section in {rel(DOC)}")
    for m in re.finditer(r"^###\s+((?:MCP|APIKey|Keycloak)[A-Za-z]+)\s*$", text, re.M):
        if m.group(1) not in alerts:
            problem(f"{rel(DOC)}: section {m.group(1)} names no alert of {rel(RULES)}")
    return len(alerts)


# ---------------------------------------------------------------------------------------------
# oc / kubectl


class Chart:
    def __init__(self, docs: list[dict]):
        self.docs = docs
        self.objects = {(d["kind"], d["metadata"]["name"]) for d in docs}
        argo = yaml.safe_load(ARGO.read_text())
        self.objects.add(("Application", argo["metadata"]["name"]))
        self.argo_namespace = argo["metadata"]["namespace"]
        self.pods: list[tuple[str, dict, list[dict]]] = []
        for d in docs:
            spec = d.get("spec") or {}
            if d["kind"] in ("Deployment", "StatefulSet"):
                t = spec["template"]
            elif d["kind"] == "CronJob":
                t = spec["jobTemplate"]["spec"]["template"]
            else:
                continue
            cs = (t["spec"].get("initContainers") or []) + t["spec"]["containers"]
            self.pods.append((d["metadata"]["name"], t["metadata"].get("labels") or {}, cs))
            for v in t["spec"].get("volumes") or []:
                if "secret" in v:
                    self.objects.add(("Secret", v["secret"]["secretName"]))
                for s in (v.get("projected") or {}).get("sources") or []:
                    if "secret" in s:
                        self.objects.add(("Secret", s["secret"]["name"]))
            for c in cs:
                for e in c.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        self.objects.add(("Secret", ref["name"]))
        # Labels that objects made outside the chart carry (deploy/kubernetes/mcp-keys).
        self.other_labels = [{"app": "mcp-api-key", "app.kubernetes.io/part-of": "mcp-gateway"}]
        gw = next(c for _, _, cs in self.pods for c in cs if c["name"] == "mcp-gateway")
        self.config_path = next(e["value"] for e in gw["env"] if e["name"] == "MCP_GATEWAY_CONFIG")
        cfg = next(yaml.safe_load(d["data"]["gateway.yaml"]) for d in docs
                   if d["kind"] == "ConfigMap" and "gateway.yaml" in (d.get("data") or {}))
        self.keys_dir = (cfg.get("keys") or {}).get("dir")
        self.route_paths = [(d["spec"].get("path") or "/") for d in docs if d["kind"] == "Route"]

    def pods_matching(self, selector: dict) -> list[tuple[str, dict, list[dict]]]:
        return [p for p in self.pods if all(p[1].get(k) == v for k, v in selector.items())]


def commands(text: str) -> list[tuple[int, list[str]]]:
    """(line, argv) of every oc/kubectl invocation in the shell blocks."""
    out = []
    for lang, code, start in blocks(text):
        if lang not in ("sh", "bash", "shell", "console"):
            continue
        joined, first = "", None
        for i, line in enumerate(code.splitlines()):
            if first is None:
                first = start + i
            if line.rstrip().endswith("\\"):
                joined += line.rstrip()[:-1] + " "
                continue
            joined += line
            stripped = re.sub(r"(^|\s)#.*$", "", joined)
            for m in re.finditer(r"(?:^|[|;&(`]|\$\()\s*((?:oc|kubectl)\s[^|;&)`]*)", stripped):
                try:
                    argv = shlex.split(m.group(1))
                except ValueError:
                    argv = m.group(1).split()
                out.append((first, argv))
            joined, first = "", None
    return out


def check_commands(text: str, chart: Chart) -> int:
    n = 0
    for line, argv in commands(text):
        n += 1
        where = f"{rel(DOC)}:{line} `{' '.join(argv)[:90]}`"
        args = argv[1:]
        ns, selector, container, positional, inner = None, {}, None, [], []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--":
                inner = args[i + 1:]
                break
            if a in ("-n", "--namespace") and i + 1 < len(args):
                ns = args[i + 1]
                i += 2
                continue
            if a.startswith("--namespace="):
                ns = a.split("=", 1)[1]
            elif a in ("-l", "--selector") and i + 1 < len(args):
                selector = dict(kv.split("=", 1) for kv in args[i + 1].split(",") if "=" in kv)
                i += 2
                continue
            elif a in ("-c", "--container") and i + 1 < len(args):
                container = args[i + 1]
                i += 2
                continue
            elif a.startswith("--from=cronjob/"):
                positional.append("cronjob/" + a.split("/", 1)[1])
            elif a in ("-o", "-p", "--type", "--since", "--tail", "--replicas", "--sort-by", "-f") and i + 1 < len(args):
                i += 2
                continue
            elif not a.startswith("-"):
                positional.append(a)
            i += 1
        if ns and ns != NAMESPACE and ns not in OTHER_NAMESPACES:
            problem(f"{where}: namespace {ns} (the chart's release lives in {NAMESPACE})")
        if any(x in " ".join(positional) for x in ("$", "<", "KEY_ID", "ID")):
            positional = [p for p in positional if "$" not in p and "<" not in p]
        verb = positional[0] if positional else ""
        refs: list[tuple[str, str]] = []
        rest = positional[1:]
        if verb in ("rollout", "adm", "create", "auth"):
            rest = rest[1:]
        for j, p in enumerate(rest):
            if "/" in p:
                kind, name = p.split("/", 1)
                if kind.lower() in KINDS:
                    refs.append((KINDS[kind.lower()], name))
            elif p.lower() in KINDS and j + 1 < len(rest) and not rest[j + 1].startswith("-"):
                refs.append((KINDS[p.lower()], rest[j + 1]))
                break
        pods = []
        for kind, name in refs:
            if (kind, name) not in chart.objects:
                problem(f"{where}: no {kind} {name} in the chart rendered as release mcp-gateway")
            if kind == "Application" and ns and ns != chart.argo_namespace:
                problem(f"{where}: the Application lives in {chart.argo_namespace}")
            elif kind != "Application" and ns and ns != NAMESPACE:
                problem(f"{where}: {kind} {name} lives in {NAMESPACE}")
            if kind in ("Deployment", "CronJob"):
                pods += [p for p in chart.pods if p[0] == name]
        if selector:
            hits = chart.pods_matching(selector)
            others = [l for l in chart.other_labels if all(l.get(k) == v for k, v in selector.items())]
            if not hits and not others:
                problem(f"{where}: selector {selector} matches no pod or object of the chart")
            pods += hits
        if container:
            if not pods:
                problem(f"{where}: -c {container} without a deployment or selector to check it against")
            # One topology is enough (sidecar pods have mcp-sandbox, separate ones do not).
            if pods and not any(container in {c["name"] for c in cs} for _, _, cs in pods):
                problem(f"{where}: pods of {sorted({p[0] for p in pods})} have no container {container}")
        if inner[:1] == ["mcp-gateway"]:
            for flag, want in (("--config", chart.config_path), ("--dir", chart.keys_dir)):
                if flag in inner and inner[inner.index(flag) + 1] != want:
                    problem(f"{where}: {flag} {inner[inner.index(flag) + 1]}: the chart's path is {want}")
    return n


def check_urls_and_values(text: str, chart: Chart) -> None:
    for m in re.finditer(r"https://\$\{?GATEWAY_URL\}?(/[\w./-]*)", text):
        path = m.group(1)
        if not any(path.startswith(p) for p in chart.route_paths):
            problem(f"{rel(DOC)}: {path} is not exposed by the chart's Routes ({chart.route_paths})")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for m in re.finditer(r"--set[ =]'?([a-zA-Z][\w.]*)=", text):
        node = values
        for part in m.group(1).split("."):
            if not isinstance(node, dict) or part not in node:
                problem(f"{rel(DOC)}: --set {m.group(1)}: no such value in the chart's values.yaml")
                break
            node = node[part]


# ---------------------------------------------------------------------------------------------
# log queries


def check_logs(text: str, audit_log: Path) -> int:
    import jq

    raw = audit_log.read_text()
    records = []
    for line in raw.splitlines():
        try:
            v = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(v, dict) and v.get("type") == "mcp_request":
            records.append(v)
    if not records:
        problem(f"{audit_log}: no audit lines in the smoke run's output")
        return 0
    fields = set().union(*(r.keys() for r in records))
    # Log queries: jq programs on lines that read pod logs or an audit file.
    programs = []
    for lang, code, _ in blocks(text):
        if lang not in ("sh", "bash", "shell"):
            continue
        for line in re.sub(r"\\\n", " ", code).splitlines():
            # jq reading pod logs directly (not the output of another command).
            if re.search(r"\blogs\b[^|]*\|\s*jq\b", line):
                programs += re.findall(r"\bjq\s+((?:-[a-zA-Z]+\s+|--arg\s+\w+\s+\S+\s+)*)'([^']+)'", line)
    ran = 0
    for flags, program in programs:
        # --arg NAME VALUE: the smoke run's user stands in for any value.
        jq_args = {name: "smoke" for name in re.findall(r"--arg\s+(\w+)", flags)}
        try:
            if re.search(r"(^|\s)-[a-zA-Z]*R", flags):
                # -R: each line is a string; the documented programs parse it themselves.
                results = jq.compile(program, args=jq_args).input_values(raw.splitlines()).all()
            else:
                results = jq.compile(program, args=jq_args).input_values(records).all()
        except ValueError as e:
            problem(f"{rel(DOC)}: jq '{program}' fails on a real log: {e}")
            continue
        ran += 1
        if "status" in program and "denied" in program and "user" in program and not results:
            problem(f"{rel(DOC)}: the failed-login query jq '{program}' finds nothing in a log with a failed login")
        if "type" not in program:
            problem(f"{rel(DOC)}: jq '{program}' does not filter on the line type (it would count log lines)")
    failed = [r for r in records if r.get("status") == "denied" and r.get("error") in AUTH_REASONS]
    if not failed:
        problem(f"{audit_log}: the forged key left no status=denied line with an authentication reason")
    for m in re.finditer(r"\|\s*json\s*((?:\|[^|\n`]*)*)", text):
        for field in re.findall(r"\|\s*([a-z_]+)\s*(?:=~|!=|=|>|<)", m.group(1)):
            if field not in fields and field not in ("line_format",):
                problem(f"{rel(DOC)}: LogQL filters on {field!r}, which audit lines do not have ({sorted(fields)})")
    return ran


def check_argo() -> None:
    """deploy/argocd/application.yaml deploys this chart as the guide expects (the values it sets
    are rendered by scripts/check-deploy.sh: `guide.py --argo-values OUT` writes them)."""
    app = yaml.safe_load(ARGO.read_text())
    src, dst = app["spec"]["source"], app["spec"]["destination"]
    want = {"metadata.name": (app["metadata"]["name"], "mcp-gateway"),
            "metadata.namespace": (app["metadata"]["namespace"], "openshift-gitops"),
            "spec.source.path": (src.get("path"), str(CHART.relative_to(REPO))),
            "spec.source.helm.releaseName": ((src.get("helm") or {}).get("releaseName"), "mcp-gateway"),
            "spec.destination.namespace": (dst.get("namespace"), NAMESPACE)}
    for field, (got, expected) in want.items():
        if got != expected:
            problem(f"{rel(ARGO)}: {field} is {got!r}, expected {expected!r}")
    values = (src.get("helm") or {}).get("valuesObject") or {}
    for secret in (("session", "existingSecret"), ("sandbox", "auth", "existingSecret")):
        node = values
        for k in secret:
            node = (node or {}).get(k) if isinstance(node, dict) else None
        if not node:
            problem(f"{rel(ARGO)}: set {'.'.join(secret)}: Argo CD re-runs the chart's hooks, which would regenerate it")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered", type=Path, nargs="+", help="the chart rendered as release mcp-gateway, per topology")
    ap.add_argument("--audit-log", type=Path)
    ap.add_argument("--argo-values", type=Path, help="write the Argo CD Application's values here and exit")
    args = ap.parse_args()
    if args.argo_values:
        app = yaml.safe_load(ARGO.read_text())
        args.argo_values.write_text(yaml.safe_dump(app["spec"]["source"]["helm"]["valuesObject"]))
        return 0
    text = DOC.read_text()
    check_argo()
    chart = Chart([d for f in args.rendered for d in load_docs(f)])
    n_promql = check_promql(text)
    n_alerts = check_alerts(text)
    n_cmds = check_commands(text, chart)
    check_urls_and_values(text, chart)
    n_jq = check_logs(text, args.audit_log) if args.audit_log else None
    logs = f", {n_jq} jq queries on a real audit log" if n_jq is not None else " (log queries: no audit log, skipped)"
    print(f"  {rel(DOC)}: {n_promql} PromQL expressions, {n_alerts} alert runbooks, {n_cmds} oc/kubectl commands{logs}",
          file=sys.stderr)
    from common import problems
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
