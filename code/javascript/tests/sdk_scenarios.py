"""Runs code-mode scenarios through the gateway with the official MCP Python SDK client.

Usage: sdk_scenarios.py URL TOKEN < scenarios.json
stdin: a JSON object {name: arguments of execute_code}. Every scenario is one `tools/call` of
`execute_code` in one session. Prints one JSON object {name: {"is_error", "structured", "text",
"ms"}}; the test (proxy/tests/all/code_mode_js.rs) asserts on it.
"""
import json
import sys
import time

import anyio

try:
    import httpx2 as httpx  # mcp >= 2 uses httpx2
except ImportError:  # pragma: no cover
    import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, scenarios: dict) -> None:
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                out["_tools"] = sorted(t.name for t in tools.tools)
                for name, arguments in scenarios.items():
                    started = time.monotonic()
                    r = await session.call_tool("execute_code", arguments)
                    out[name] = {
                        "is_error": bool(getattr(r, "is_error", getattr(r, "isError", False))),
                        "structured": getattr(r, "structured_content", None)
                        or getattr(r, "structuredContent", None),
                        "text": " ".join(getattr(c, "text", "") for c in r.content),
                        "ms": round((time.monotonic() - started) * 1000),
                    }
    print(json.dumps(out))


anyio.run(main, sys.argv[1], sys.argv[2], json.load(sys.stdin))
