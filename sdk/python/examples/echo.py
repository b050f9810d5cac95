"""The smallest useful tool, in Python: `py_echo {text}` returns the text and its length in
characters. The same behaviour as the Rust example (sdk/examples/echo.rs).

Build: `sdk/python/build.sh sdk/python/examples/echo.py target/tools/py_echo.wasm`
"""

from dataclasses import dataclass, field
from typing import Annotated

from mcp_tool import export, tool


@dataclass
class Echoed:
    """The text, unchanged, and its length."""

    text: str = field(metadata={"description": "The text that was sent."})
    length: int = field(metadata={"description": "Its length in Unicode scalar values."})


@tool(name="py_echo", read_only=True, idempotent=True, open_world=False)
def echo(text: Annotated[str, "Text to send back."]) -> Echoed:
    """Echo text back, with its length in characters"""
    return Echoed(text=text, length=len(text))


Tool = export(echo)
