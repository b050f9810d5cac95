"""Calls a tool through the gateway with the official MCP Python SDK (Streamable HTTP), as an
agent would: lists the tools (the tool must be there for this caller's roles), calls it, and
calls it again with arguments that break its schema (the result must be an error the model can
read). Used by scaffold_to_call.sh; needs `pip install mcp` (scripts/setup-peers.sh installs it
in .peers/venv).

Usage: official_client_call.py URL TOKEN TOOL ARGS_JSON BAD_ARGS_JSON
Prints one JSON object; exits 1 when a check fails.
"""

import json
import sys

import anyio

try:
    import httpx2 as httpx  # mcp >= 2 uses httpx2
except ImportError:  # pragma: no cover
    import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def field(obj, *names):
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    return None


async def main(url, token, tool, args, bad_args):
    out = {}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                listed = [t.name for t in (await session.list_tools()).tools]
                out["listed"] = tool in listed
                r = await session.call_tool(tool, json.loads(args))
                out["is_error"] = field(r, "is_error", "isError")
                out["text"] = [c.text for c in r.content]
                out["structured"] = field(r, "structured_content", "structuredContent")
                bad = await session.call_tool(tool, json.loads(bad_args))
                out["bad_is_error"] = field(bad, "is_error", "isError")
                out["bad_text"] = [c.text for c in bad.content]
    print(json.dumps(out))
    return out["listed"] and not out["is_error"] and out["bad_is_error"]


sys.exit(0 if anyio.run(main, *sys.argv[1:6]) else 1)
