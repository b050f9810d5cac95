"""One client-matrix run with fastmcp's `Client` over Streamable HTTP (its default settings).

Usage: MCP_TOKEN=... fastmcp_client.py URL
Prints one JSON line like py_client.py.
"""

import json
import os
import sys
import traceback

import anyio
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport


def summary(r):
    return {
        "is_error": bool(r.is_error),
        "text": "\n".join(getattr(c, "text", "") for c in r.content),
        "structured": r.structured_content,
    }


async def main(url):
    out = {"sdk": "fastmcp", "mode": "default"}
    transport = StreamableHttpTransport(
        url, headers={"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"}
    )
    try:
        async with Client(transport) as client:
            init = client.initialize_result
            out["protocol"] = getattr(init, "protocol_version", None)
            out["server"] = init.server_info.name if init else None
            out["tools"] = sorted(t.name for t in await client.list_tools())

            async def call(name, args):
                try:
                    return summary(await client.call_tool(name, args, raise_on_error=False))
                except Exception as e:  # noqa: BLE001
                    return {"raised": f"{type(e).__name__}: {e}"[:2000]}

            out["echo"] = await call("echo", {"text": "from fastmcp"})
            out["fail"] = await call(
                "execute_code",
                {"language": "python", "code": "print('before')\nraise ValueError('boom')"},
            )
            out["bad_args"] = await call("echo", {"text": 5})
            out["exec"] = await call(
                "execute_code", {"language": "python", "code": "print('hi')\n6 * 7"}
            )
    except BaseException as e:  # noqa: BLE001
        out["error"] = "".join(traceback.format_exception(e))[-4000:]
    print(json.dumps(out))


anyio.run(main, sys.argv[1])
