#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/corpus/<target>/seed-*: real MCP messages, credentials of the
real shapes (random, never real secrets), the repository's policy, tool set and config files,
and the real tools' argument shapes. Run from anywhere; existing seeds are rewritten, inputs the
fuzzer added are left alone. Field separator for multi-part inputs: a zero byte."""

import base64
import json
import os
import secrets
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
CORPUS = FUZZ / "corpus"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target: str, name: str, data) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m)


def jsonrpc():
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "claude-code", "version": "1.0.0"},
    }
    seeds = {
        "initialize": rpc(0, "initialize", init),
        "initialized": '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        "ping": rpc("p-1", "ping"),
        "list": rpc(1, "tools/list", {}),
        "list-cursor": rpc(2, "tools/list", {"cursor": b64(b"after:echo")}),
        "call-echo": rpc(3, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}),
        "call-transform": rpc(
            "c-4",
            "tools/call",
            {"name": "text_transform", "arguments": {"text": "Hello", "operation": "upper"}},
        ),
        "call-search": rpc(
            5,
            "tools/call",
            {"name": "search_logs", "arguments": {"query": "error", "limit": 10}},
        ),
        "call-no-args": rpc(6, "tools/call", {"name": "list_skills"}),
        "discover": rpc(7, "server/discover"),
        "response": '{"jsonrpc":"2.0","id":9,"result":{}}',
        "batch": "[" + rpc(1, "ping") + "]",
        "escaped": '{"jsonrpc":"2.0","id":"\\u0041\\ud83d\\ude00","method":"tools\\/call",'
        '"params":{"name":"echo","arguments":{"text":"a\\"]}["}}}',
        "nested": '{"jsonrpc":"2.0","id":1,"method":"x","params":' + "[" * 63 + "]" * 63 + "}",
    }
    for name, body in seeds.items():
        write("jsonrpc", name, body)


def session():
    write("session", "open-shape", b"\x00mcps1." + b64(secrets.token_bytes(24 + 33 + 16)).encode())
    write("session", "edit", b"\x01\x00\x10\x01")
    write("session", "principal", b"\x02jwt:alice")
    write("session", "clock", b"\x03" + (1_800_003_599).to_bytes(8, "little"))


def api_key():
    return f"mcpk_{secrets.token_hex(6)}_{b64(secrets.token_bytes(32))}"


def jwt_shape(header, claims):
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(secrets.token_bytes(256))}"


def auth_header():
    claims = {"iss": "https://sso.example.com/realms/mcp", "aud": "mcp-gateway", "exp": 4102444800}
    seeds = {
        "apikey": f"Bearer {api_key()}",
        "jwt": "Bearer " + jwt_shape({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}, claims),
        "jwt-none": "bearer " + jwt_shape({"alg": "none"}, claims),
        "jwt-crit": "Bearer " + jwt_shape({"alg": "RS256", "crit": ["exp"]}, claims),
        "basic": "Basic dXNlcjpwYXNzd29yZA==",
        "empty": "Bearer ",
    }
    for name, h in seeds.items():
        write("auth_header", name, h)


def apikey():
    key = api_key()
    write("apikey", "presented", b"\x00" + key[len("mcpk_"):].encode())
    write("apikey", "edit", b"\x00@" + b"x" * 5)
    write("apikey", "id", b"\x01" + secrets.token_hex(6).encode())
    write("apikey", "hash", b"\x02sha256:" + secrets.token_hex(32).encode())
    record = {
        "id": secrets.token_hex(6),
        "user": "alice",
        "roles": ["mcp-user", "mcp-log-analyst"],
        "created": "2026-01-05T09:30:00Z",
        "expires": "2026-04-05T09:30:00.5+02:00",
        "revoked": None,
        "hash": "sha256:" + secrets.token_hex(32),
        "description": "CI pipeline",
        "replaced_by": None,
    }
    write("apikey", "record", b"\x03" + json.dumps(record, indent=2).encode())


def jwt():
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "test-key-1"}
    claims = {
        "iss": "$ISS",
        "aud": "mcp-gateway",
        "sub": "sub-alice",
        "preferred_username": "alice",
        "realm_access": {"roles": ["mcp-user"]},
        "resource_access": {"mcp-gateway": {"roles": ["mcp-admin"]}},
        "scope": "openid profile",
        "iat": 1767225600,
        "nbf": 1767225600,
        "exp": 4102444800,
    }
    write("jwt", "valid", json.dumps(header) + "\0" + json.dumps(claims))
    aud_list = dict(claims, aud=["account", "mcp-gateway"])
    write("jwt", "aud-list", json.dumps(dict(header, typ="JWT")) + "\0" + json.dumps(aud_list))
    write("jwt", "untyped", json.dumps({"alg": "RS256"}) + "\0" + json.dumps(claims))
    write("jwt", "raw", jwt_shape(header, claims))


def policy():
    write("policy", "access", (REPO / "policies/access.yaml").read_text())
    write(
        "policy",
        "doc",
        "toolsets:\n  examples: { roles: [mcp-user, mcp-admin] }\n"
        "  log-analysis: { roles: [mcp-log-analyst], listed: false }\n"
        "  code: { roles: ['*'] }\n"
        "tools:\n  delete_file: { roles: [mcp-admin] }\n  banned: { roles: [] }\n"
        "rate_limits:\n  per_user: 600/min\n  per_user_tool: 120/min\n"
        "  tools: { execute_code: 30/min }\n  users: { ci-bot: 6000/min, slow: 5/30s }\n",
    )


def units():
    for s in ["30s", "500ms", "90d", "2m", "1h", "64MiB", "10MB", "4096", "1GiB", "60/min", "5/30s", "10/s", "1/day"]:
        write("units", s.replace("/", "per"), s)


def config():
    write("config", "local", (REPO / "deploy/local/gateway.yaml").read_text())
    full = (
        "listen: 0.0.0.0:8443\n"
        "tls: {cert: tls.crt, key: tls.key}\n"
        "public_url: https://mcp.example.com\n"
        "allowed_origins: [https://app.example.com]\n"
        "sandboxes:\n  - {name: a, url: 'http://10.0.0.1:7070'}\n  - {name: b, url: 'unix:/run/mcp/sandbox.sock'}\n"
        "upstream: {connect_timeout: 5s, request_timeout: 60s, execute_timeout: 30s, idle_timeout: 60s, pool_size: 64}\n"
        "catalog: {refresh: 10s, page_size: 50, block_changed_definitions: true}\n"
        "policy: /etc/mcp/policy/access.yaml\n"
        "keys: {dir: /etc/mcp/keys}\n"
        "oidc:\n  issuer: https://sso.example.com/realms/mcp\n  audience: mcp-gateway\n"
        "  algorithms: [RS256, ES256]\n  role_claims: [realm_access.roles, 'resource_access.{audience}.roles']\n"
        "session: {ttl: 1h}\n"
        "limits: {max_body: 4MiB}\n"
        "rate_limit_store: {redis: {url: 'redis://127.0.0.1:6379', on_unavailable: fail_open}}\n"
        "audit: {output: stdout, arguments: hash}\n"
        "server: {threads: 4, grace_period: 5s, shutdown_timeout: 30s}\n"
    )
    write("config", "full", full)
    env = "SANDBOXES__0__URL=http://127.0.0.1:7071\nOIDC__ISSUER=https://idp.example/realms/x\nSERVER__THREADS=8\n"
    write("config", "env", (REPO / "deploy/local/gateway.yaml").read_text() + "\0" + env)


def manifest():
    for f in sorted((REPO / "policies/toolsets").glob("*.yaml")):
        write("manifest", f.stem, f.read_text() + "\0${HOME:-/tmp}/logs/${A}")


def schema():
    tools = json.loads((FUZZ / "schemas/tools.json").read_text())
    names = [t["name"] for t in tools]
    args = {
        "echo": {"text": "hello"},
        "text_transform": {"text": "Hello", "operation": "upper"},
        "search_logs": {"query": "timeout", "limit": 5},
        "write_file": {"path": "notes/a.txt", "content": "x"},
        "save_skill": {"name": "triage", "description": "d", "code": "print(1)"},
    }
    for name, a in args.items():
        write("schema", f"tool-{name}", bytes([names.index(name)]) + json.dumps(a).encode())
    hostile = {
        "pattern": ({"type": "string", "pattern": "^(a+)+$"}, '"' + "a" * 40 + '!"'),
        "lookahead": ({"type": "string", "pattern": "^(?=(a+)+b)"}, '"' + "a" * 40 + '"'),
        "format": (
            {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string", "format": "regex"},
            '"(a|aa)*$"',
        ),
        "ref": ({"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}, "[[[[]]]]"),
        "props": (
            {"type": "object", "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False},
            '{"x-a": 1, "y": 2}',
        ),
    }
    for name, (s, inst) in hostile.items():
        write("schema", f"hostile-{name}", b"\x80" + json.dumps(s).encode() + b"\0" + inst.encode())


if __name__ == "__main__":
    for seed in (jsonrpc, session, auth_header, apikey, jwt, policy, units, config, manifest, schema):
        seed()
    print(f"seeds written under {CORPUS.relative_to(Path.cwd()) if CORPUS.is_relative_to(Path.cwd()) else CORPUS}")
