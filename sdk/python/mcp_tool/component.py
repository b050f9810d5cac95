"""The component side of the SDK: the WIT host imports behind `Host`, and the `tool` export over
a `Toolbox`. Converting between componentize-py's generated types and the SDK's own happens here
and nowhere else. Importable only while componentize-py builds the component (the `wit_world`
bindings exist only then), so the rest of the package never imports it.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host

try:
    from wit_world.imports import types
except ImportError:
    # The SDK's world (sdk/python/wit) also imports wasi:http, whose `types` interface takes the
    # plain name's place: componentize-py then qualifies both by package.
    from wit_world.imports import mcp_gateway_types as types

from .context import Caller, Context, ToolSummary, Usage
from .errors import (
    Aborted,
    CallError,
    CallFailed,
    CallInvalidArguments,
    Forbidden,
    InvalidArguments,
    LimitExceeded,
    NotFound,
    ToolError,
)
from .tool import Tool as _Tool
from .tool import Toolbox

_LEVELS = {
    "trace": types.LogLevel.TRACE,
    "debug": types.LogLevel.DEBUG,
    "info": types.LogLevel.INFO,
    "warn": types.LogLevel.WARN,
    "error": types.LogLevel.ERROR,
}

_CALL_ERRORS = {
    types.CallError_NotFound: NotFound,
    types.CallError_Forbidden: Forbidden,
    types.CallError_InvalidArguments: CallInvalidArguments,
    types.CallError_Failed: CallFailed,
    types.CallError_LimitExceeded: LimitExceeded,
}


class WitHost:
    """`mcp_tool.context.Host` over the WIT imports."""

    def call_tool(self, name, arguments):
        try:
            return host.call_tool(name, arguments)
        except Err as e:
            v = e.value
            if isinstance(v, types.CallError_Aborted):
                raise Aborted(v.value.message, tool=name, abort_kind=v.value.kind) from None
            raise _CALL_ERRORS.get(type(v), CallError)(str(v.value), tool=name) from None

    def list_tools(self):
        return [
            ToolSummary(t.name, t.component, t.description, t.input_schema, t.output_schema)
            for t in host.list_tools()
        ]

    def log(self, level, message, fields):
        host.log(_LEVELS[level], message, fields)

    def caller(self):
        c = host.caller()
        return Caller(c.user, list(c.roles), c.request_id)

    def usage(self):
        u = host.usage()
        return Usage(u.fuel_consumed, u.elapsed_ms, u.nested_calls)

    def limit_deadline(self, ms):
        host.limit_deadline(ms)

    def fail_detail(self, detail):
        host.fail_detail(detail)


def export(*tools: _Tool):
    """The class implementing the WIT `tool` export for these tools. Assign it to `Tool` in
    the module componentize-py builds: `Tool = export(echo, shout)`.

    The tools are described once here, at build time, so a bad name or an unsupported type
    fails the build instead of the deployment.
    """
    toolbox = Toolbox(*tools)
    descriptors = [
        types.ToolDescriptor(
            name=d["name"],
            title=d.get("title"),
            description=d["description"],
            input_schema=json.dumps(d["inputSchema"]),
            output_schema=json.dumps(d["outputSchema"]) if "outputSchema" in d else None,
            annotations=json.dumps(d["annotations"]) if "annotations" in d else None,
        )
        for d in toolbox.describe()
    ]

    class Tool(exports.Tool):
        toolbox = None

        def describe(self):
            return descriptors

        def call(self, name, arguments):
            try:
                return toolbox.call(name, arguments, Context(WitHost()))
            except InvalidArguments as e:
                raise Err(types.ToolError_InvalidArguments(e.message)) from None
            except ToolError as e:
                raise Err(types.ToolError_Failed(e.message)) from None

    Tool.toolbox = toolbox
    return Tool
