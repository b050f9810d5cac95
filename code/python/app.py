"""The `execute_code` tool component: the entry point componentize-py builds into
`target/tools/code.wasm` (world `tool-component` of sdk/wit/mcp-tool.wit).

componentize-py runs this module at build time and snapshots the interpreter, so everything
imported here is inside the component, including the bundled standard library
(`codemode.bundle`); nothing is read from a filesystem at run time. Each call then runs in a
fresh instance of that snapshot.

A program that raises fails the call: the host gets the report as the failure's detail
(`fail-detail`) and the client sees an error result carrying it.

This file only adapts the WIT interface: `WitHost` maps the host imports onto
`codemode.host.Host` (and call errors onto `codemode.errors`), and `Tool` implements the
`tool` export. Everything else lives in the `codemode` package.
"""

import json

import componentize_py_types
import wit_world
from codemode import bundle, descriptor, errors, runner  # noqa: F401 (bundle: see below)
from codemode.host import ToolInfo
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

# `bundle` is imported for its effect: the standard library it imports is in the snapshot.
# Frames of the bindings and of this adapter are noise in a user's traceback.
runner.hide_frames_of(__file__, componentize_py_types.__file__, *wit_world.__path__)


def _call_error(tool, err):
    """The `codemode.errors` exception for a WIT `call-error`."""
    v = err.value
    if isinstance(v, types.CallError_Aborted):
        return errors.ToolAborted(v.value.message, tool=tool, kind=v.value.kind)
    cls = {
        types.CallError_NotFound: errors.ToolNotFound,
        types.CallError_Forbidden: errors.ToolForbidden,
        types.CallError_InvalidArguments: errors.ToolInvalidArguments,
        types.CallError_Failed: errors.ToolFailed,
        types.CallError_LimitExceeded: errors.ToolLimitExceeded,
    }.get(type(v), errors.ToolError)
    return cls(str(v.value), tool=tool)


class WitHost:
    """`codemode.host.Host` over the WIT host imports."""

    def call_tool(self, name, arguments):
        try:
            return host.call_tool(name, arguments)
        except Err as e:
            raise _call_error(name, e) from None

    def list_tools(self):
        return [
            ToolInfo(
                name=t.name,
                component=t.component,
                description=t.description,
                input_schema=t.input_schema,
                output_schema=t.output_schema,
            )
            for t in host.list_tools()
        ]

    def fuel_used(self):
        return host.usage().fuel_consumed


class Tool(exports.Tool):
    def describe(self):
        return [
            types.ToolDescriptor(
                name=descriptor.NAME,
                title="Execute code",
                description=descriptor.DESCRIPTION,
                input_schema=json.dumps(descriptor.INPUT_SCHEMA),
                output_schema=json.dumps(descriptor.OUTPUT_SCHEMA),
                annotations=json.dumps(descriptor.ANNOTATIONS),
            )
        ]

    def call(self, name, arguments):
        if name != descriptor.NAME:
            raise Err(
                types.ToolError_InvalidArguments(
                    f"this component provides only {descriptor.NAME!r}, not {name!r}"
                )
            )
        try:
            request = descriptor.parse_arguments(arguments)
        except descriptor.InvalidArguments as e:
            raise Err(types.ToolError_InvalidArguments(str(e))) from None
        # The deadline covers the whole call, the report included; it can only be shortened.
        host.limit_deadline(int(request.timeout_s * 1000))
        try:
            text = runner.run(request.code, WitHost())
            failure = runner.failure_message(text)
        except Exception as e:  # a bug here, not in the user's program
            raise Err(
                types.ToolError_Failed(
                    f"execute_code failed internally ({type(e).__name__}: {e}); the program's "
                    "result is lost"
                )
            ) from None
        if failure is None:
            return text
        # A program that raised is a failed call (`isError: true` for the client), with the
        # whole report (output so far, error, traceback) as its structured detail.
        host.fail_detail(text)
        raise Err(types.ToolError_Failed(failure))
