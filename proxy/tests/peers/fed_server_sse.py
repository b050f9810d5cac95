"""An upstream MCP server of the old HTTP+SSE transport (protocol revision 2024-11-05: a GET
event stream at /sse plus a POST endpoint it names), on the official Python SDK, for the test
that the gateway refuses it clearly at initialize. Env: PORT (required).
Serves http://127.0.0.1:$PORT/sse.
"""
import os

import uvicorn

try:
    from mcp.server.mcpserver import MCPServer as Server  # mcp >= 2
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server

mcp = Server(name="fed-upstream-sse")


@mcp.tool()
def echo(text: str) -> str:
    """Echo text back."""
    return text


if __name__ == "__main__":
    uvicorn.run(mcp.sse_app(), host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
