#!/usr/bin/env python3
"""The checks behind scripts/check-deploy.sh, one subcommand each (see that script for the order
and the tools). Runs in the venv the script makes (PyYAML, jsonschema, kubernetes-validate).

  copies [--write]        generated copies match their sources (or rewrite them)
  rendered-rules FILE     the chart's PrometheusRule carries exactly rules.yaml's groups
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
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy/helm/mcp-gateway"
MONITORING = REPO / "deploy/monitoring"
RULES = MONITORING / "rules.yaml"
PROM_RULES = MONITORING / "prometheus-rules.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
REALM = REPO / "deploy/keycloak/mcp-realm.json"
POLICIES = REPO / "policies"

problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)
    print(f"  FAIL {msg}", file=sys.stderr)


def rel(p: Path) -> str:
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def load_docs(path: Path) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


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


# ---------------------------------------------------------------------------------------------
# validate

CORE_GROUPS = {"v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
PROMETHEUS_OPERATOR = "monitoring.coreos.com/v1"
ENDPOINT_FIELDS = {"port", "path", "interval", "scrapeTimeout", "scheme", "tlsConfig", "relabelings",
                   "metricRelabelings", "honorLabels", "bearerTokenSecret", "authorization"}
RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def validate_schema(doc: dict, where: str, versions: list[str]) -> None:
    import kubernetes_validate

    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(root)"
            problem(f"{where}: Kubernetes {version} schema: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problem(f"{where}: {e.message}")


def validate_route(doc: dict, where: str) -> None:
    """No schema package for route.openshift.io is on the registries we reach: the fields the
    router needs, checked by hand."""
    spec = doc.get("spec") or {}
    allowed = {"host", "path", "to", "port", "tls", "wildcardPolicy", "alternateBackends", "subdomain"}
    for k in set(spec) - allowed:
        problem(f"{where}: spec.{k} is not a Route field")
    to = spec.get("to") or {}
    if to.get("kind") != "Service" or not to.get("name"):
        problem(f"{where}: spec.to must name a Service")
    if not (spec.get("port") or {}).get("targetPort"):
        problem(f"{where}: spec.port.targetPort is missing")
    tls = spec.get("tls") or {}
    if tls.get("termination") not in ("edge", "reencrypt", "passthrough"):
        problem(f"{where}: spec.tls.termination must be edge, reencrypt or passthrough")
    if tls.get("termination") == "passthrough" and spec.get("path"):
        problem(f"{where}: a passthrough Route cannot have a path")


def validate_prometheus_operator(docs: list[tuple[str, dict]], validator: Path, node_modules: Path) -> None:
    for where, doc in docs:
        spec = doc.get("spec") or {}
        if doc["kind"] == "ServiceMonitor":
            for i, ep in enumerate(spec.get("endpoints") or []):
                for k in set(ep) - ENDPOINT_FIELDS:
                    problem(f"{where}: spec.endpoints[{i}].{k} is not a field the chart expects")
        if doc["kind"] == "PrometheusRule":
            for g in spec.get("groups") or []:
                for r in g.get("rules") or []:
                    for k in set(r) - RULE_FIELDS:
                        problem(f"{where}: group {g.get('name')}: rule field {k} is unknown")
    if not docs:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([d for _, d in docs], f)
    try:
        out = subprocess.run(["node", str(validator), f.name, str(node_modules)],
                             capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    for line in (out.stdout + out.stderr).splitlines():
        problem(f"prometheus-operator model: {line}")
    if out.returncode != 0 and not (out.stdout + out.stderr).strip():
        problem(f"{validator.name} exited with {out.returncode}")


def pod_templates(docs: list[dict]) -> list[tuple[str, dict, dict]]:
    """(where, pod template metadata, pod spec) of every workload."""
    out = []
    for d in docs:
        if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            t = d["spec"]["template"]
            out.append((f"{d['kind']}/{d['metadata']['name']}", t.get("metadata") or {}, t["spec"]))
    return out


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_baseline(where: str, meta: dict, spec: dict, names: dict[str, set[str]]) -> None:
    """The security baseline and the references a schema cannot see."""
    psc = spec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        problem(f"{where}: pod securityContext.runAsNonRoot must be true")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problem(f"{where}: pod seccompProfile must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problem(f"{where}: automountServiceAccountToken must be false (no Kubernetes API use)")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problem(f"{where}: {flag} must not be set")
    volumes = [v["name"] for v in spec.get("volumes") or []]
    if len(volumes) != len(set(volumes)):
        problem(f"{where}: duplicate volume names {sorted(volumes)}")
    for v in spec.get("volumes") or []:
        if len(set(v) - {"name"}) != 1:
            problem(f"{where}: volume {v['name']} must have exactly one source, has {sorted(set(v) - {'name'})}")
        if "hostPath" in v:
            problem(f"{where}: volume {v['name']} is a hostPath")
        cm = (v.get("configMap") or {}).get("name")
        if cm and cm not in names["ConfigMap"]:
            problem(f"{where}: volume {v['name']} names ConfigMap {cm}, which the chart does not render")
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    for c in containers:
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext") or {}
        want = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
        for k, v in want.items():
            if sc.get(k) is not v:
                problem(f"{cw}: securityContext.{k} must be {str(v).lower()}")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
            problem(f"{cw}: securityContext.capabilities.drop must be [ALL]")
        if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problem(f"{cw}: seccompProfile must be RuntimeDefault")
        if sc.get("privileged"):
            problem(f"{cw}: must not be privileged")
        for p in c.get("ports") or []:
            if p["containerPort"] < 1024:
                problem(f"{cw}: port {p['containerPort']} is privileged (OpenShift's SCC forbids it)")
        mounts = [m["mountPath"] for m in c.get("volumeMounts") or []]
        if len(mounts) != len(set(mounts)):
            problem(f"{cw}: a mount path is used twice: {sorted(mounts)}")
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes:
                problem(f"{cw}: mounts volume {m['name']}, which the pod does not define")
        if "resources" not in c or not (c["resources"].get("limits") or {}).get("memory"):
            problem(f"{cw}: needs a memory limit")
    if not any(c["name"] == "mcp-gateway" for c in containers) and not any(
        c["name"] == "mcp-sandbox" for c in containers
    ):
        problem(f"{where}: no mcp-gateway or mcp-sandbox container (the alert rules select by name)")


def check_references(docs: list[dict]) -> None:
    pods = pod_templates(docs)
    names: dict[str, set[str]] = {}
    for d in docs:
        names.setdefault(d["kind"], set()).add(d["metadata"]["name"])
    names.setdefault("ConfigMap", set())
    for where, meta, spec in pods:
        check_baseline(where, meta, spec, names)
    labels_of = [meta.get("labels") or {} for _, meta, _ in pods]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for d in docs:
        where = f"{d['kind']}/{d['metadata']['name']}"
        spec = d.get("spec") or {}
        if d["kind"] == "Service" and not any(matches(spec.get("selector"), l) for l in labels_of):
            problem(f"{where}: selector matches no pod template")
        if d["kind"] in ("NetworkPolicy", "PodDisruptionBudget"):
            sel = (spec.get("podSelector") or spec.get("selector") or {}).get("matchLabels")
            if not any(matches(sel, l) for l in labels_of):
                problem(f"{where}: selector matches no pod template")
        if d["kind"] == "HorizontalPodAutoscaler" and spec["scaleTargetRef"]["name"] not in names.get("Deployment", ()):
            problem(f"{where}: scales {spec['scaleTargetRef']['name']}, which is not rendered")
        if d["kind"] == "ServiceMonitor":
            sel = spec["selector"].get("matchLabels")
            hits = [s for s in services.values() if matches(sel, s["metadata"].get("labels") or {})]
            if not hits:
                problem(f"{where}: selector matches no Service")
            for ep in spec.get("endpoints") or []:
                ports = {p.get("name") for s in hits for p in s["spec"]["ports"]}
                if ep.get("port") not in ports:
                    problem(f"{where}: endpoint port {ep.get('port')} is not a port of the selected Service")
        if d["kind"] in ("Ingress", "Route"):
            backends = []
            if d["kind"] == "Route":
                backends.append(spec["to"]["name"])
            for rule in spec.get("rules") or []:
                for p in rule["http"]["paths"]:
                    backends.append(p["backend"]["service"]["name"])
            for b in backends:
                if b not in services:
                    problem(f"{where}: routes to Service {b}, which is not rendered")
    for where, meta, spec in pods:
        for c in (spec.get("initContainers") or []) + spec["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in {p["name"] for p in c.get("ports") or []}:
                    problem(f"{where} container {c['name']}: {probe} uses port {port}, which it does not declare")


def cmd_validate(args: argparse.Namespace) -> None:
    docs = load_docs(args.file)
    versions = args.kube_versions.split()
    crds: list[tuple[str, dict]] = []
    for doc in docs:
        where = f"{args.file.stem}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        api = doc.get("apiVersion")
        if api in CORE_GROUPS:
            validate_schema(doc, where, versions)
        elif api == PROMETHEUS_OPERATOR:
            crds.append((where, doc))
        elif api == "route.openshift.io/v1" and doc.get("kind") == "Route":
            validate_route(doc, where)
        else:
            problem(f"{where}: no schema known for {api}")
    validate_prometheus_operator(crds, args.crd_validator, args.node_modules)
    check_references(docs)
    print(f"  {args.file.stem}: {len(docs)} objects checked", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# configs


def cli_env_vars(*sources: Path) -> set[str]:
    names: set[str] = set()
    for src in sources:
        for f in [src] if src.is_file() else src.rglob("*.rs"):
            names |= set(re.findall(r'env\s*=\s*"([A-Z0-9_]+)"', f.read_text()))
    return names


def manifest_vars() -> set[str]:
    names: set[str] = set()
    for f in (POLICIES / "toolsets").glob("*.yaml"):
        names |= set(re.findall(r"\$\{([A-Z0-9_]+)", f.read_text()))
    return names


def cmd_configs(args: argparse.Namespace) -> None:
    docs = load_docs(args.file)
    stem = args.file.stem
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    gateway_cm = [data for data in configmaps.values() if "gateway.yaml" in data]
    policy_cm = [data for data in configmaps.values() if "access.yaml" in data]
    toolset_cms = [data for name, data in configmaps.items() if name.endswith("-toolsets")]
    if len(gateway_cm) != 1 or len(policy_cm) != 1 or len(toolset_cms) != 1:
        problem(f"{stem}: expected one gateway.yaml, one access.yaml and one tool set ConfigMap")
        return
    for name, text in toolset_cms[0].items():
        m = yaml.safe_load(text)
        if not isinstance(m, dict) or not m.get("name") or not m.get("components"):
            problem(f"{stem}: tool set manifest {name} has no name or components")
    sandbox_vars = cli_env_vars(REPO / "sandbox/src/main.rs")
    gateway_vars = cli_env_vars(REPO / "proxy/src/main.rs", REPO / "proxy/auth/src/keys_cli")
    expanded = manifest_vars()
    gateway_env: dict[str, str] = {}
    for where, _, spec in pod_templates(docs):
        for c in (spec.get("initContainers") or []) + spec["containers"]:
            for e in c.get("env") or []:
                n = e["name"]
                if c["name"] == "mcp-sandbox":
                    if n.startswith("MCP_SANDBOX_") and n not in sandbox_vars:
                        problem(f"{stem}: {where}: mcp-sandbox reads no variable {n} (sandbox/src/main.rs)")
                    if n.startswith("MCP_") and not n.startswith("MCP_SANDBOX_") and n not in expanded:
                        problem(f"{stem}: {where}: no tool set manifest expands ${{{n}}}")
                if c["name"] == "mcp-gateway":
                    if n.startswith("MCP_GATEWAY__"):
                        gateway_env[n] = e.get("value", "")
                    elif n.startswith("MCP_GATEWAY_") and n not in gateway_vars:
                        problem(f"{stem}: {where}: mcp-gateway reads no variable {n} (proxy/src/main.rs)")
            if c["name"] in ("mcp-gateway", "mcp-sandbox") and c.get("args") != ["serve"]:
                problem(f"{stem}: {where}: {c['name']} should run `serve`")
    config = yaml.safe_load(gateway_cm[0]["gateway.yaml"])
    for key in ("listen", "sandboxes", "policy"):
        if key not in config:
            problem(f"{stem}: gateway.yaml has no {key}")
    if not args.gateway:
        return
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "gateway.yaml"
        cfg.write_text(gateway_cm[0]["gateway.yaml"])
        (Path(tmp) / "access.yaml").write_text(policy_cm[0]["access.yaml"])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MCP_GATEWAY__POLICY": str(Path(tmp) / "access.yaml")}
        for k, v in gateway_env.items():
            # $(VAR) is Kubernetes' expansion (the sandbox Service's IP): any address will do here.
            env[k] = re.sub(r"\$\([A-Z0-9_]+\)", "10.96.0.10", v)
        out = subprocess.run([str(args.gateway), "check-config", "--config", str(cfg)],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            problem(f"{stem}: mcp-gateway check-config rejects the rendered gateway.yaml: {out.stderr.strip()}")
        else:
            print(f"  {stem}: {out.stdout.strip().replace(tmp + '/', '')}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# metrics

EXTERNAL = re.compile(r"^(up|kube_[a-z0-9_]+|container_[a-z0-9_]+)$")
TARGET_LABELS = {"job", "namespace", "pod", "instance", "container", "service", "endpoint"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "bool", "offset", "inf", "nan"}
JOBS = {"mcp-gateway": "proxy", "mcp-sandbox": "sandbox"}


class Exported:
    """The metrics one binary exports: name -> label keys, and the bucketed histograms."""

    def __init__(self, *roots: Path):
        self.labels: dict[str, set[str]] = {}
        self.kind: dict[str, str] = {}
        suffixes: list[str] = []
        full: list[str] = []
        for root in roots:
            for f in root.rglob("*.rs"):
                text = f.read_text()
                for m in re.finditer(r'\b(counter|gauge|histogram)!\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"(.*?)\)\s*\.',
                                     text, re.S):
                    kind, name, rest = m.groups()
                    self.kind[name] = kind
                    self.labels.setdefault(name, set()).update(re.findall(r'"([a-z_]+)"\s*=>', rest))
                suffixes += re.findall(r'Matcher::Suffix\("([^"]+)"', text)
                full += re.findall(r'Matcher::Full\("([^"]+)"', text)
        self.bucketed = {n for n, k in self.kind.items()
                         if k == "histogram" and (n in full or any(n.endswith(s) for s in suffixes))}

    def series(self) -> dict[str, str]:
        """Series name -> metric name, as the Prometheus exporter writes them."""
        out = {}
        for name, kind in self.kind.items():
            out[name] = name
            if kind == "histogram":
                out[name + "_sum"] = name
                out[name + "_count"] = name
                if name in self.bucketed:
                    out[name + "_bucket"] = name
        return out


def promql_refs(expr: str) -> tuple[list[tuple[str, dict[str, str]]], set[str]]:
    """The metric references in an expression, each with its equality/regex matchers, and the
    labels used in by/without/on/ignoring clauses."""
    text = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and Grafana's $__rate_interval
    refs: list[tuple[str, dict[str, str]]] = []
    grouping: set[str] = set()
    for m in re.finditer(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        grouping |= {x.strip() for x in m.group(2).split(",") if x.strip()}
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)

    def selector(m: re.Match) -> str:
        matchers = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)"', m.group(2)))
        refs.append((m.group(1), matchers))
        return " "

    text = re.sub(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", selector, text)
    text = re.sub(r'"[^"]*"', " ", text)
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text):
        if m.group(1) not in PROMQL_WORDS:
            refs.append((m.group(1), {}))
    return refs, grouping


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every rule and dashboard query."""
    out = []
    for g in yaml.safe_load(RULES.read_text())["groups"]:
        for r in g["rules"]:
            out.append((f"rule {r.get('alert') or r.get('record')}", r["expr"]))
    dash = json.loads(DASHBOARD.read_text())
    for p in dash["panels"]:
        for t in p.get("targets") or []:
            out.append((f"panel {p['title']!r}", t["expr"]))
    for v in dash["templating"]["list"]:
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append((f"variable {v['name']}", re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", q)))
    return out


def cmd_metrics(args: argparse.Namespace) -> None:
    exported = {"proxy": Exported(REPO / "proxy/src", REPO / "proxy/auth/src"),
                "sandbox": Exported(REPO / "sandbox/src")}
    series = {b: e.series() for b, e in exported.items()}
    used: set[str] = set()
    for where, expr in queries():
        refs, grouping = promql_refs(expr)
        if not refs:
            problem(f"{where}: no metric found in {expr!r}")
        known_labels = set(TARGET_LABELS) | {"le"}
        for name, matchers in refs:
            if EXTERNAL.match(name):
                used.add(name)
                continue
            homes = [b for b in series if name in series[b]]
            if not homes:
                hint = " (a histogram without buckets has no _bucket series)" if name.endswith("_bucket") else ""
                problem(f"{where}: metric {name} is not exported by mcp-gateway or mcp-sandbox{hint}")
                continue
            job = matchers.get("job")
            if job is None:
                problem(f"{where}: {name} has no job matcher (both binaries may export the same name)")
            elif job not in JOBS:
                problem(f"{where}: {name}{{job={job!r}}}: job must be one of {sorted(JOBS)}")
            elif JOBS[job] not in homes:
                problem(f"{where}: {name} is not exported by the {job} job (only by {homes[0]})")
            binary = JOBS.get(job or "", homes[0])
            metric = series[binary].get(name)
            if metric is None:
                continue
            used.add(metric)
            labels = exported[binary].labels.get(metric, set())
            known_labels |= labels
            for label in matchers:
                if label not in labels | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set()):
                    problem(f"{where}: {name} has no label {label!r} (it has {sorted(labels)})")
        for label in grouping - known_labels:
            problem(f"{where}: groups by {label!r}, which none of its metrics has")
    print(f"  {len(used)} metrics referenced, all exported: {', '.join(sorted(used))}", file=sys.stderr)
    # The dashboard must show what docs/operations.md promises.
    dash_text = DASHBOARD.read_text()
    for name in ("http_requests_total", "http_request_duration_seconds_bucket", "mcp_tool_calls_total",
                 "mcp_auth_failures_total", "mcp_rate_limited_total", "mcp_sandbox_duration_seconds_bucket",
                 "mcp_sandbox_limit_hits_total", "mcp_sandbox_instances_in_use", "mcp_sandbox_queue_depth",
                 "mcp_api_key_expiry_timestamp"):
        if name not in dash_text:
            problem(f"{rel(DASHBOARD)}: no panel queries {name}")


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
