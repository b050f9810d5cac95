"""The handle a tool has on the sandbox host: who the caller is, logging, the caller's other
tools, usage and the deadline. Mirrors the Rust SDK's `Context` (sdk/src/context.rs).

The host behind it is `Host`: inside a component the WIT imports (`mcp_tool.component`), in a
native test `mcp_tool.testing.FakeHost`.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import UnexpectedResult
from .schema import encode

LEVELS = ("trace", "debug", "info", "warn", "error")


@dataclass(frozen=True)
class Caller:
    """Who the current call runs for, as authenticated by the gateway. Never credentials."""

    user: str
    roles: list[str] = field(default_factory=list)
    request_id: str = ""

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Usage:
    """Resources the current call has used so far."""

    fuel_consumed: int
    elapsed_ms: int
    nested_calls: int


@dataclass(frozen=True)
class ToolSummary:
    """A tool the caller may call; the schemas are JSON text."""

    name: str
    component: str
    description: str
    input_schema: str
    output_schema: str | None = None


class Host(Protocol):
    """What a `Context` needs from the host; errors of `call_tool` are `CallError`s."""

    def call_tool(self, name: str, arguments: str) -> str: ...

    def list_tools(self) -> list[ToolSummary]: ...

    def log(self, level: str, message: str, fields: str) -> None: ...

    def caller(self) -> Caller: ...

    def usage(self) -> Usage: ...

    def limit_deadline(self, ms: int) -> None: ...

    def fail_detail(self, detail: str) -> None: ...


class Context:
    """Given to a tool function that declares a parameter of type `Context`."""

    def __init__(self, host: Host):
        self._host = host

    def call_tool(self, name: str, arguments: Any = None) -> Any:
        """Calls another tool as the same caller and returns its result as JSON data.

        `arguments` is anything JSON-encodable (a dict, a dataclass). The call runs under that
        tool's own limits, never past this call's deadline, and counts towards the nested-call
        budget. Raises a `CallError` subclass when it returns no result.
        """
        text = self.call_tool_raw(name, json.dumps(encode(arguments if arguments is not None else {})))
        try:
            return json.loads(text)
        except ValueError as e:
            raise UnexpectedResult(f"the result is not JSON ({e})", tool=name) from None

    def call_tool_raw(self, name: str, arguments: str) -> str:
        """The same with JSON text in and out."""
        return self._host.call_tool(name, arguments)

    def list_tools(self) -> list[ToolSummary]:
        """The tools this caller may call through `call_tool`."""
        return self._host.list_tools()

    def log(self, level: str, message: str, **fields: Any) -> None:
        """A structured log line attributed to this tool and the caller's request.
        `level` is one of trace, debug, info, warn, error; `fields` become a JSON object."""
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
        self._host.log(level, message, json.dumps(encode(fields)) if fields else "")

    def caller(self) -> Caller:
        """Who this call runs for."""
        return self._host.caller()

    def usage(self) -> Usage:
        """Resources used so far by this call."""
        return self._host.usage()

    def limit_deadline(self, seconds: float) -> None:
        """Brings this call's deadline forward to at most `seconds` from now (never extends it)."""
        self._host.limit_deadline(max(0, int(seconds * 1000)))

    def fail_detail(self, detail: dict) -> None:
        """Structured detail (a JSON object) for the failure this call is about to raise."""
        self._host.fail_detail(json.dumps(encode(detail)))
