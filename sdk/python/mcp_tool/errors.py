"""The errors a tool raises and the errors a call to another tool raises.

A tool reports its own failures with `ToolError` (`InvalidArguments` or `Failed`): the agent sees
either as a result with `isError: true` and the message. A call made with `Context.call_tool`
that does not return a result raises a `CallError` subclass, one per kind of the contract's
`call-error`; left uncaught it fails the calling tool (like `?` on a `CallError` in Rust).
"""


class ToolError(Exception):
    """A failure the tool reports itself. Raise `InvalidArguments` or `Failed`."""

    kind = "failed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @staticmethod
    def invalid_arguments(message: str) -> "InvalidArguments":
        return InvalidArguments(message)

    @staticmethod
    def failed(message: str) -> "Failed":
        return Failed(message)


class InvalidArguments(ToolError):
    """The arguments fit the schema but cannot be acted on (a bad path, an unknown id)."""

    kind = "invalid_arguments"


class Failed(ToolError):
    """The tool ran and could not do what was asked."""

    kind = "failed"


class CallError(Exception):
    """Why a call through `Context.call_tool` did not return a result."""

    kind = "call_error"

    def __init__(self, message: str, *, tool: str = ""):
        super().__init__(message)
        self.message = message
        self.tool = tool

    def __str__(self) -> str:
        return f"calling `{self.tool}` failed ({self.kind}): {self.message}"


class NotFound(CallError):
    """No tool by that name exists in this sandbox."""

    kind = "not_found"


class Forbidden(CallError):
    """The caller's roles do not allow that tool."""

    kind = "forbidden"


class CallInvalidArguments(CallError):
    """The arguments are not valid for that tool (its schema or its own check)."""

    kind = "invalid_arguments"


class CallFailed(CallError):
    """The tool ran and reported a failure."""

    kind = "failed"


class Aborted(CallError):
    """The host stopped the tool: `abort_kind` is the sandbox error kind (`timeout`,
    `fuel_exhausted`, `memory_limit`, `tool_trap`, ...)."""

    kind = "aborted"

    def __init__(self, message: str, *, tool: str = "", abort_kind: str = ""):
        super().__init__(message, tool=tool)
        self.abort_kind = abort_kind

    def __str__(self) -> str:
        return f"calling `{self.tool}` was aborted ({self.abort_kind}): {self.message}"


class LimitExceeded(CallError):
    """The nested-call budget of the outer call is spent (count or depth)."""

    kind = "limit_exceeded"


class UnexpectedResult(CallError):
    """The result was not JSON (a broken host or tool)."""

    kind = "unexpected_result"


# `except CallError.NotFound:` reads like the Rust SDK's `CallError::NotFound`.
CallError.NotFound = NotFound
CallError.Forbidden = Forbidden
CallError.InvalidArguments = CallInvalidArguments
CallError.Failed = CallFailed
CallError.Aborted = Aborted
CallError.LimitExceeded = LimitExceeded
CallError.UnexpectedResult = UnexpectedResult
