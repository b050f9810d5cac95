"""Text utilities in one Python component: `py_text_transform {text, operation}` and
`py_text_stats {text}`. The same behaviour as the Rust example (sdk/examples/text_transform.rs).

Build: `sdk/python/build.sh sdk/python/examples/text_transform.py target/tools/py_text_transform.wasm`
"""

from dataclasses import dataclass
from typing import Annotated, Literal

from mcp_tool import export, tool

Operation = Literal["upper", "lower", "reverse", "title", "word_count", "slug"]


@dataclass
class Transformed:
    """The transformed text; `word_count` gives the count as text."""

    result: Annotated[str, "The result of the operation."]


@dataclass
class Stats:
    """Counts over the text."""

    characters: Annotated[int, "Unicode scalar values.", {"minimum": 0}]
    words: Annotated[int, "Runs of non-whitespace.", {"minimum": 0}]
    lines: Annotated[int, "Lines, counting a last line without a newline.", {"minimum": 0}]
    bytes: Annotated[int, "Bytes of UTF-8.", {"minimum": 0}]


@tool(name="py_text_transform", title="Transform text", read_only=True, idempotent=True, open_world=False)
def transform(text: str, operation: Operation) -> Transformed:
    """Transform text: upper, lower, reverse, title case, word count or URL slug

    Args:
        text: The text to transform.
        operation: The transformation: `upper` or `lower` case, `reverse` the characters,
            `title` case (capitalise each word), `word_count` (words separated by whitespace)
            or `slug` (lower-case ASCII letters and digits joined by `-`).
    """
    if operation == "upper":
        result = text.upper()
    elif operation == "lower":
        result = text.lower()
    elif operation == "reverse":
        result = text[::-1]
    elif operation == "title":
        result = title_case(text)
    elif operation == "word_count":
        result = str(len(text.split()))
    else:
        result = slug(text)
    return Transformed(result=result)


@tool(name="py_text_stats", read_only=True, idempotent=True, open_world=False)
def stats(text: Annotated[str, "The text to measure."]) -> Stats:
    """Count the characters, words, lines and bytes of a text"""
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return Stats(characters=len(text), words=len(text.split()), lines=lines, bytes=len(text.encode()))


def title_case(text: str) -> str:
    out, at_word_start = [], True
    for c in text:
        if c.isspace():
            at_word_start = True
            out.append(c)
        elif at_word_start:
            at_word_start = False
            out.append(c.upper())
        else:
            out.append(c.lower())
    return "".join(out)


def slug(text: str) -> str:
    parts = "".join(c if c.isascii() and c.isalnum() else " " for c in text).split()
    return "-".join(p.lower() for p in parts)


Tool = export(transform, stats)
