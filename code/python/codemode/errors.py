"""Exceptions raised inside user code when a tool call fails.

Each maps one case of the host's `call-error` (sdk/wit/mcp-tool.wit). The message is the
host's; `kind` names the case, and for `ToolAborted` it is the sandbox's error kind
(`timeout`, `fuel_exhausted`, `memory_limit`, ...).
"""


class ToolError(Exception):
    """A call to another tool did not return a result."""

    kind = "error"

    def __init__(self, message, *, tool=None, kind=None):
        super().__init__(message)
        self.message = message
        self.tool = tool
        if kind is not None:
            self.kind = kind


class ToolNotFound(ToolError):
    """No tool by that name among the tools the caller may use: it does not exist, or the
    caller's roles do not grant it. The host answers both alike (same kind, same words), so
    a program cannot probe for tools it may not see."""

    kind = "not_found"


class ToolForbidden(ToolError):
    """Kept for the `call-error` case of that name; the host no longer raises it for a tool
    the caller may not use (that is `ToolNotFound`, like a tool that does not exist)."""

    kind = "forbidden"


class ToolInvalidArguments(ToolError):
    """The arguments are not valid for that tool."""

    kind = "invalid_arguments"


class ToolFailed(ToolError):
    """The tool ran and reported a failure."""

    kind = "failed"


class ToolAborted(ToolError):
    """The host stopped the tool; `kind` says why (e.g. `timeout`, `fuel_exhausted`)."""

    kind = "aborted"


class ToolLimitExceeded(ToolError):
    """This program's budget of tool calls (count or nesting depth) is spent."""

    kind = "limit_exceeded"


ALL = (
    ToolError,
    ToolNotFound,
    ToolForbidden,
    ToolInvalidArguments,
    ToolFailed,
    ToolAborted,
    ToolLimitExceeded,
)
