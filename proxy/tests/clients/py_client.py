"""Drives the gateway with the official MCP Python SDK over Streamable HTTP.

Usage: py_client.py URL TOKEN
Prints one JSON object: the negotiated protocol version, the server name, the tool names, the
result of echo, and the error the SDK raises for a tool the caller may not use.
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


async def main(url: str, token: str) -> None:
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                info = getattr(init, "server_info", None) or getattr(init, "serverInfo")
                out["protocol"] = getattr(init, "protocol_version", None) or getattr(init, "protocolVersion")
                out["server"] = info.name
                names, cursor = [], None  # every page: the gateway pages tools/list
                while True:
                    params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await session.list_tools(params=params)
                    names += [t.name for t in page.tools]
                    cursor = getattr(page, "next_cursor", None) or getattr(page, "nextCursor", None)
                    if not cursor:
                        break
                out["tools"] = sorted(names)
                echo = await session.call_tool("echo", {"text": "from python"})
                out["echo"] = [c.text for c in echo.content]
                out["echo_structured"] = getattr(echo, "structured_content", None) or getattr(echo, "structuredContent", None)
                try:
                    r = await session.call_tool("text_stats", {"text": "x"})
                    out["forbidden"] = {"is_error": getattr(r, "is_error", getattr(r, "isError", None))}
                except Exception as e:  # the SDK raises on JSON-RPC errors
                    out["forbidden"] = {"raised": type(e).__name__, "message": str(e)}
    print(json.dumps(out))


anyio.run(main, sys.argv[1], sys.argv[2])
