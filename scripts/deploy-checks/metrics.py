"""Metric names and labels: every query of the alert rules and the dashboard uses only metrics
(and labels) the code exports, from the job that exports them (`metrics`)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

from common import DASHBOARD, REPO, RULES, problem, rel

EXTERNAL = re.compile(r"^(up|kube_[a-z0-9_]+|container_[a-z0-9_]+)$")
TARGET_LABELS = {"job", "namespace", "pod", "instance", "container", "service", "endpoint"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "bool", "offset", "inf", "nan"}
JOBS = {"mcp-gateway": "proxy", "mcp-sandbox": "sandbox"}
# Metrics the rules use before the code exports them: name -> (job's binary, its labels, who owes
# it). Reported on every run; once the code exports the name, its real labels are checked and
# the entry should go.
PENDING: dict[str, tuple[str, set[str], str]] = {}


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
    # Both binaries link the rate limiter (ratelimit/), which exports its own counters.
    exported = {"proxy": Exported(REPO / "proxy/src", REPO / "proxy/auth/src", REPO / "ratelimit/src"),
                "sandbox": Exported(REPO / "sandbox/src", REPO / "ratelimit/src")}
    series = {b: e.series() for b, e in exported.items()}
    used: set[str] = set()
    pending_used: set[str] = set()
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
            if not homes and name in PENDING:
                binary, labels, owed = PENDING[name]
                pending_used.add(f"{name} ({owed})")
                known_labels |= labels
                for label in matchers:
                    if label not in labels | TARGET_LABELS:
                        problem(f"{where}: {name} has no label {label!r} (it will have {sorted(labels)})")
                continue
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
    for p in sorted(pending_used):
        print(f"  NOTE not exported yet, owed by the code: {p}", file=sys.stderr)
    # The dashboard must show what docs/operations.md promises.
    dash_text = DASHBOARD.read_text()
    for name in ("http_requests_total", "http_request_duration_seconds_bucket", "mcp_tool_calls_total",
                 "mcp_auth_failures_total", "mcp_rate_limited_total", "mcp_sandbox_duration_seconds_bucket",
                 "mcp_sandbox_limit_hits_total", "mcp_sandbox_instances_in_use", "mcp_sandbox_queue_depth",
                 "mcp_api_key_expiry_timestamp"):
        if name not in dash_text:
            problem(f"{rel(DASHBOARD)}: no panel queries {name}")
