"""Parses every kind of result the gateway returns, at each protocol version it supports, with
the official SDK's own type models for that version (`mcp-types`): the wire models of
2025-11-25 and 2026-07-28, and the SDK's unified models for the older handshake versions.

Usage: MCP_TOKEN=... types_check.py URL
Prints one JSON line: {"<version>": {"<method>": "ok" | "<validation error>"}}.
Requests are raw JSON-RPC over HTTP (httpx), so nothing in between repairs a result.
"""

import json
import os
import sys

import httpx2 as httpx
import mcp_types
from mcp_types import _v2025_11_25, _v2026_07_28

HANDSHAKE = ("2025-03-26", "2025-06-18", "2025-11-25")
MODERN = ("2026-07-28",)
MODELS = {
    "2025-03-26": mcp_types,
    "2025-06-18": mcp_types,
    "2025-11-25": _v2025_11_25,
    "2026-07-28": _v2026_07_28,
}
CALLS = {
    "echo": {"name": "echo", "arguments": {"text": "types"}},
    "tool_failure": {
        "name": "execute_code",
        "arguments": {"language": "python", "code": "raise ValueError('boom')"},
    },
    "schema_violation": {"name": "echo", "arguments": {"text": 5}},
    "execute_code": {"name": "execute_code", "arguments": {"language": "python", "code": "6 * 7"}},
}


class Session:
    def __init__(self, http, url, version):
        self.http, self.url, self.version = http, url, version
        self.headers = {"Accept": "application/json, text/event-stream"}
        self.next_id = 0

    def request(self, method, params):
        self.next_id += 1
        headers = dict(self.headers)
        if self.version in MODERN:
            params = dict(params)
            params["_meta"] = {
                mcp_types.PROTOCOL_VERSION_META_KEY: self.version,
                mcp_types.CLIENT_CAPABILITIES_META_KEY: {},
                mcp_types.CLIENT_INFO_META_KEY: {"name": "types-check", "version": "0"},
            }
            headers["MCP-Protocol-Version"] = self.version
            headers["Mcp-Method"] = method
            if method == "tools/call":
                headers["Mcp-Name"] = params["name"]
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        r = self.http.post(self.url, json=body, headers=headers)
        if "mcp-session-id" in r.headers:
            self.headers["Mcp-Session-Id"] = r.headers["mcp-session-id"]
        text = r.text
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
            text = data[-1]
        return r.status_code, json.loads(text)


def check(models, model_name, message):
    if "result" not in message:
        return f"JSON-RPC error instead of a result: {json.dumps(message)[:500]}"
    model = getattr(models, model_name)
    try:
        model.model_validate(message["result"])
    except Exception as e:  # pydantic.ValidationError
        return f"{model_name}: {e}"[:1500]
    return "ok"


def run_version(http, url, version):
    out = {}
    models = MODELS[version]
    s = Session(http, url, version)
    if version in HANDSHAKE:
        _, m = s.request(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "types-check", "version": "0"},
            },
        )
        out["initialize"] = check(models, "InitializeResult", m)
        negotiated = m.get("result", {}).get("protocolVersion")
        if negotiated != version:
            out["initialize"] = f"negotiated {negotiated!r}, not {version}"
        s.headers["MCP-Protocol-Version"] = version
        s.http.post(
            url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=s.headers,
        )
    else:
        _, m = s.request("server/discover", {})
        out["server/discover"] = check(models, "DiscoverResult", m)
    _, m = s.request("tools/list", {})
    out["tools/list"] = check(models, "ListToolsResult", m)
    for label, params in CALLS.items():
        _, m = s.request("tools/call", params)
        out[f"tools/call {label}"] = check(models, "CallToolResult", m)
        if label in ("tool_failure", "schema_violation") and out[f"tools/call {label}"] == "ok":
            if m["result"].get("isError") is not True:
                out[f"tools/call {label}"] = "isError is not true"
    _, m = s.request("ping", {})
    if "result" not in m:
        out["ping"] = f"JSON-RPC error: {json.dumps(m)[:300]}"
    elif version in MODERN:
        out["ping"] = check(models, "Result", m) if hasattr(models, "Result") else "ok"
    else:
        out["ping"] = "ok"
    return out


def main(url):
    headers = {"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"}
    results = {}
    with httpx.Client(headers=headers, timeout=60) as http:
        for version in (*HANDSHAKE, *MODERN):
            try:
                results[version] = run_version(http, url, version)
            except Exception as e:  # noqa: BLE001
                results[version] = {"error": f"{type(e).__name__}: {e}"[:1500]}
    print(json.dumps(results))


main(sys.argv[1])
