"""A long federated call through the gateway with the official MCP Python SDK client,
receiving its progress.

Usage: fed_client_progress.py URL TOKEN TOOL STEPS
Calls TOOL with {"steps": STEPS} and a progress callback; prints one JSON object: the progress
events in the order received ([progress, total, message]) and the result's text.
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


async def main(url: str, token: str, tool: str, steps: int) -> None:
    events = []

    async def on_progress(progress, total, message):
        events.append([progress, total, message])

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                r = await session.call_tool(tool, {"steps": steps}, progress_callback=on_progress)
                text = r.content[0].text
    print(json.dumps({"events": events, "text": text}))


anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
