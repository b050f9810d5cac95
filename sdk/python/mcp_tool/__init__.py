"""mcp_tool: write MCP tools as plain typed Python functions and build them into WebAssembly
components that the gateway's sandbox runs (world `tool-component-http` of sdk/python/wit: the
tool contract of sdk/wit/mcp-tool.wit plus wasi:http for `mcp_tool.http`).

    from dataclasses import dataclass
    from typing import Annotated
    from mcp_tool import tool, export

    @dataclass
    class Echoed:
        text: str
        length: int

    @tool(read_only=True, idempotent=True, open_world=False)
    def echo(text: Annotated[str, "Text to send back."]) -> Echoed:
        \"\"\"Echo text back, with its length in characters.\"\"\"
        return Echoed(text, len(text))

    Tool = export(echo)          # the WIT export componentize-py looks for

`export` lives in `mcp_tool.component` and is only importable while componentize-py builds the
component; everything else runs on an ordinary CPython (see `mcp_tool.testing`).
"""

from .context import Caller, Context, ToolSummary, Usage
from .errors import (
    Aborted,
    CallError,
    CallFailed,
    CallInvalidArguments,
    Failed,
    Forbidden,
    InvalidArguments,
    LimitExceeded,
    NotFound,
    ToolError,
    UnexpectedResult,
)
from .tool import DescribeError, Toolbox, tool, validate_tool_name

__all__ = [
    "Aborted",
    "CallError",
    "CallFailed",
    "CallInvalidArguments",
    "Caller",
    "Context",
    "DescribeError",
    "Failed",
    "Forbidden",
    "InvalidArguments",
    "LimitExceeded",
    "NotFound",
    "ToolError",
    "ToolSummary",
    "Toolbox",
    "Usage",
    "UnexpectedResult",
    "export",
    "tool",
    "validate_tool_name",
]


def export(*tools):
    """The class implementing the WIT `tool` export for these tools (see
    `mcp_tool.component.export`); its `toolbox` attribute is the `Toolbox`.

    Outside componentize-py (a native test importing the tool's module) the WIT bindings do not
    exist: the class then only carries the toolbox, described once so that the same errors
    show up natively as in the build.
    """
    try:
        from .component import export as _export
    except ImportError:
        toolbox = Toolbox(*tools)
        toolbox.describe()
        return type("Tool", (), {"toolbox": toolbox})
    return _export(*tools)
