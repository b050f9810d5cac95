"""What the program runner needs from the sandbox host.

`app.py` implements it over the WIT imports; the unit tests fake it. Keeping the WIT bindings
out of the rest of the package lets it run (and be tested) on an ordinary CPython.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ToolInfo:
    """A tool the caller may call (the host's `tool-summary`, schemas still as JSON text)."""

    name: str
    component: str
    description: str
    input_schema: str
    output_schema: str | None


class Host(Protocol):
    def call_tool(self, name: str, arguments: str) -> str:
        """Calls `name` with `arguments` (JSON text) and returns the result as JSON text.

        Raises a `codemode.errors.ToolError` subclass when the call does not return a result.
        """

    def list_tools(self) -> list[ToolInfo]:
        """The tools the caller may call."""

    def fuel_used(self) -> int:
        """Fuel the current call has used so far."""
