"""Resources and prompts of federated servers through the gateway, driven by the official MCP
Python SDK client.

Usage: fed_resources_client.py URL TOKEN READS PROMPTS
READS is a JSON list of URIs to read, PROMPTS a JSON list of [name, arguments] to get.
Prints one JSON object: the server capabilities from initialize, every page of resources,
resource templates and prompts (the names or URIs), and for each read or get either what the
SDK parsed or the error it raised.
"""
import base64
import json
import sys

import anyio

try:
    import httpx2 as httpx  # mcp >= 2 uses httpx2
except ImportError:  # pragma: no cover
    import httpx
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client


async def every_page(call, field, key):
    items, cursor, pages = [], None, 0
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await call(params=params)
        pages += 1
        items += [getattr(i, key) for i in getattr(page, field)]
        cursor = page.next_cursor
        if not cursor:
            return items, pages


def contents(c):
    if getattr(c, "text", None) is not None:
        return {"uri": str(c.uri), "text": c.text}
    return {"uri": str(c.uri), "blob": c.blob, "mime": c.mime_type}


async def main(url, token, reads, prompts):
    out = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                init = await session.initialize()
                caps = init.capabilities
                out["capabilities"] = {
                    "resources": caps.resources is not None,
                    "prompts": caps.prompts is not None,
                }
                out["resources"], out["resource_pages"] = await every_page(
                    session.list_resources, "resources", "uri")
                out["resources"] = [str(u) for u in out["resources"]]
                out["templates"], _ = await every_page(
                    session.list_resource_templates, "resource_templates", "uri_template")
                out["prompts"], _ = await every_page(session.list_prompts, "prompts", "name")
                out["reads"] = {}
                for uri in reads:
                    try:
                        r = await session.read_resource(uri)
                        out["reads"][uri] = [contents(c) for c in r.contents]
                    except Exception as e:  # the SDK raises on JSON-RPC errors
                        out["reads"][uri] = {"error": str(e), "code": getattr(getattr(e, "error", None), "code", None)}
                out["gets"] = {}
                for name, arguments in prompts:
                    try:
                        g = await session.get_prompt(name, arguments)
                        out["gets"][name] = [m.content.text for m in g.messages]
                    except Exception as e:
                        out["gets"][name] = {"error": str(e), "code": getattr(getattr(e, "error", None), "code", None)}
    print(json.dumps(out))


anyio.run(main, sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]))
