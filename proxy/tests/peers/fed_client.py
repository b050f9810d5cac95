"""Federated tools through the gateway, driven by the official MCP Python SDK client.

Usage: fed_client.py URL TOKEN
Prints one JSON object: the tool names (every page), the results of up__weather, up__pixel and
up__whoami as the SDK parsed them, and what the SDK does with a tool the caller may not use.
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


async def main(url: str, token: str) -> None:
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                names, cursor = [], None
                while True:
                    if not cursor:
                        page = await session.list_tools()
                    else:
                        try:  # mcp >= 2
                            from mcp import types
                            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
                        except TypeError:  # mcp 1.x
                            page = await session.list_tools(cursor=cursor)
                    names += [t.name for t in page.tools]
                    cursor = field(page, "next_cursor", "nextCursor")
                    if not cursor:
                        break
                out["tools"] = sorted(names)
                w = await session.call_tool("up__weather", {"city": "Oslo"})
                out["weather"] = field(w, "structured_content", "structuredContent")
                p = await session.call_tool("up__pixel", {})
                out["pixel"] = {"type": p.content[0].type, "mime": field(p.content[0], "mime_type", "mimeType")}
                who = await session.call_tool("up__whoami", {})
                out["whoami"] = json.loads(who.content[0].text)
                try:
                    r = await session.call_tool("up__fail", {"message": "x"})
                    out["forbidden"] = {"is_error": field(r, "is_error", "isError")}
                except Exception as e:  # the SDK raises on JSON-RPC errors
                    out["forbidden"] = {"raised": type(e).__name__, "message": str(e)}
    print(json.dumps(out))


anyio.run(main, sys.argv[1], sys.argv[2])
