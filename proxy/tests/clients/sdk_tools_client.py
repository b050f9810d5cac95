"""Calls tools through the gateway with the official MCP Python SDK over Streamable HTTP.

Usage: sdk_tools_client.py URL TOKEN CALLS
CALLS is a JSON object {label: {"name": tool, "arguments": {...}}}. Prints one JSON object: the
names of every tool listed (all pages, sorted) and, per label, the call's `is_error`,
`structured` content and `text` contents, or `raised` and `message` when the SDK raised
(a JSON-RPC error, e.g. a tool the caller may not use).
"""
import json
import sys

import anyio

try:
    import httpx2 as httpx  # mcp >= 2 uses httpx2
except ImportError:  # pragma: no cover
    import httpx
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, calls: dict) -> None:
    out = {"calls": {}}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                names, cursor = [], None
                while True:
                    params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await session.list_tools(params=params)
                    names += [t.name for t in page.tools]
                    cursor = getattr(page, "next_cursor", None) or getattr(page, "nextCursor", None)
                    if not cursor:
                        break
                out["tools"] = sorted(names)
                for label, call in calls.items():
                    try:
                        r = await session.call_tool(call["name"], call.get("arguments", {}))
                        out["calls"][label] = {
                            "is_error": getattr(r, "is_error", getattr(r, "isError", None)),
                            "structured": getattr(r, "structured_content", None)
                            or getattr(r, "structuredContent", None),
                            "text": [c.text for c in r.content if getattr(c, "text", None) is not None],
                        }
                    except Exception as e:  # the SDK raises on JSON-RPC errors
                        out["calls"][label] = {"raised": type(e).__name__, "message": str(e)}
    print(json.dumps(out))


anyio.run(main, sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
