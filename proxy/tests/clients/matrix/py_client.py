"""One client-matrix run with the official MCP Python SDK (mcp 2.x) over Streamable HTTP.

Usage: MCP_TOKEN=... py_client.py URL MODE
  MODE: auto     the high-level `Client` in its default mode (probes server/discover)
        legacy   `ClientSession` with the `initialize` handshake
        <ver>    the high-level `Client` pinned to a modern version (e.g. 2026-07-28)
Prints one JSON line: the negotiated protocol, the tool names, and what echo, a failing
program, a schema violation and execute_code returned (or what the SDK raised).
"""

import json
import os
import sys
import traceback

import anyio
import httpx2 as httpx
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import PaginatedRequestParams


def summary(r):
    return {
        "is_error": bool(r.is_error),
        "text": "\n".join(getattr(c, "text", "") for c in r.content),
        "structured": r.structured_content,
    }


async def exercise(target, out):
    names, cursor = [], None
    while True:
        if not cursor:
            page = await target.list_tools()
        elif isinstance(target, ClientSession):  # the session takes full params
            page = await target.list_tools(params=PaginatedRequestParams(cursor=cursor))
        else:
            page = await target.list_tools(cursor=cursor)
        names += [t.name for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            break
    out["tools"] = sorted(names)

    async def call(name, args):
        try:
            return summary(await target.call_tool(name, args))
        except Exception as e:  # JSON-RPC errors and validation failures raise
            return {"raised": f"{type(e).__name__}: {e}"[:2000]}

    out["echo"] = await call("echo", {"text": "from python"})
    out["fail"] = await call(
        "execute_code", {"language": "python", "code": "print('before')\nraise ValueError('boom')"}
    )
    out["bad_args"] = await call("echo", {"text": 5})
    out["exec"] = await call("execute_code", {"language": "python", "code": "print('hi')\n6 * 7"})


async def main(url, mode):
    out = {"sdk": "python", "mode": mode}
    headers = {"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"}
    try:
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            transport = streamable_http_client(url, http_client=http)
            if mode == "legacy":
                async with transport as streams:
                    async with ClientSession(streams[0], streams[1]) as session:
                        init = await session.initialize()
                        out["protocol"] = init.protocol_version
                        out["server"] = init.server_info.name
                        await exercise(session, out)
            else:
                kwargs = {} if mode == "auto" else {"mode": mode}
                async with Client(transport, **kwargs) as client:
                    out["protocol"] = client.protocol_version
                    info = client.server_info
                    out["server"] = info.name if info else None
                    await exercise(client, out)
    except BaseException as e:  # noqa: BLE001 - the matrix reports every failure
        out["error"] = "".join(traceback.format_exception(e))[-4000:]
    print(json.dumps(out))


anyio.run(main, sys.argv[1], sys.argv[2])
