"""What the deployment checks share: the repository's paths, problem reporting, YAML loading."""

from __future__ import annotations

import sys
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
