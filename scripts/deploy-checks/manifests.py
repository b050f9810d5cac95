"""Rendered manifests: Kubernetes schemas, prometheus-operator models, the OpenShift Route, the
security baseline, references between objects (`validate`), and the gateway configuration,
tool set manifests and environment variables the binaries read (`configs`)."""

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

from common import POLICIES, REPO, load_docs, problem

CORE_GROUPS = {"v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1", "batch/v1",
               "rbac.authorization.k8s.io/v1"}
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
                        # A value from a Secret: a stand-in of the right shape.
                        stand_in = "redis://127.0.0.1:6379/0" if n.endswith("REDIS__URL") else "x"
                        gateway_env[n] = e.get("value", stand_in)
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
