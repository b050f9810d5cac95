"""The `execute_code` tool as the host and the agent see it: name, description, input and
output schemas, and the checking of its arguments.

The host validates arguments against the input schema before the call; `parse_arguments`
checks again so the tool never depends on that (and gives the same clear messages when it is
called directly, e.g. by `mcp-sandbox tool check`).
"""

import json
import sys
from dataclasses import dataclass

from . import bundle

NAME = "execute_code"
# The languages this component runs; the others in the schema run in the sandbox host's
# JavaScript engine (sandbox/src/codelang.rs routes them there before this component is called).
LANGUAGES = ("python",)
HOST_LANGUAGES = ("javascript", "typescript")
DEFAULT_LANGUAGE = "python"
DEFAULT_TIMEOUT_S = 30
# The tool set's timeout (policies/toolsets/code.yaml); the host's own deadline wins if lower.
MAX_TIMEOUT_S = 120
# Characters of stdout/stderr returned; the rest is dropped and `truncated` is set.
OUTPUT_CAP = 100_000

_PYTHON = f"Python {sys.version_info.major}.{sys.version_info.minor}"

# Kept under 2 KB whatever the catalog holds: tools are found with `search_tools`, not listed here.
DESCRIPTION = f"""\
Run a short program in an isolated WebAssembly sandbox and get back what it printed and the \
value it computed. Use it to call several tools and process their results in code (filter, \
join, aggregate), returning only a summary instead of every raw result. Find tools with \
`search_tools` (Python and TypeScript signatures).

- `language` "python" (default, {_PYTHON}): `from tools import <component>` then \
`<component>.<tool>(arg=value, ...)` (keywords only), or `tools.call(name, **args)`; \
`tools.list()`, `tools.help(name)`. Result: the last expression's value, else the global \
`result`. Standard library only (json, re, csv, datetime, collections, itertools, math, \
statistics, sqlite3, ...).
- `language` "javascript" or "typescript" (ES2023; types are stripped): the program is an async \
function body: `await tools.<component>.<tool>({{...}})` or `await tools.call(name, {{...}})`, \
`tools.list()`. Result: the last expression's value (awaited) or what it returns. No \
`import`/`require`.
- A tool returns its parsed JSON result; a failed call raises/throws `ToolError` with `.kind` \
(not_found, forbidden, invalid_arguments, failed, aborted, limit_exceeded).
- Printed output (print, console.log) is returned in `output` (the first {OUTPUT_CAP:,} \
characters; `truncated` says if more was cut). An uncaught exception fails the call: an error \
result whose structured content is the report with `success` false, `error` "Type: message", \
`traceback` and `output`.
- No network, no environment, no packages; files: only the caller's workspace at /workspace \
(read-only, Python) when the sandbox provides one. Nothing persists between calls. `timeout_s` \
(default {DEFAULT_TIMEOUT_S}, at most {MAX_TIMEOUT_S}) stops the call with a `timeout` error; \
CPU, memory and tool calls are limited too.
"""

INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "language": {
            "type": "string",
            "enum": list(LANGUAGES + HOST_LANGUAGES),
            "default": DEFAULT_LANGUAGE,
            "description": "The program's language (default python).",
        },
        "code": {
            "type": "string",
            "description": "The program: Python 3 source run as the main module, or "
            "JavaScript/TypeScript run as the body of an async function.",
        },
        "timeout_s": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT_S,
            "default": DEFAULT_TIMEOUT_S,
            "description": f"Wall-clock limit of the whole call in seconds (default "
            f"{DEFAULT_TIMEOUT_S}, at most {MAX_TIMEOUT_S}).",
        },
    },
    "required": ["code"],
    "additionalProperties": False,
}

# Every JSON value, spelled as single-type branches (portable to clients that reject a `type`
# array or an untyped schema).
JSON_TYPES = ("object", "array", "string", "number", "boolean", "null")

OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean", "description": "Whether the program ran to its end."},
        "output": {"type": "string", "description": "What it printed (stdout and stderr)."},
        "result": {
            "anyOf": [{"type": t} for t in JSON_TYPES],
            "description": "The last expression's value, or the global `result`.",
        },
        # Always null in a result: a program that raised fails the call, with this report
        # (these two set) as the error's structured content.
        "error": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "The exception, as Type: message.",
        },
        "traceback": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "Where the exception arose.",
        },
        "truncated": {"type": "boolean", "description": "Whether output was cut."},
        "duration_ms": {"type": "number", "description": "Time the program ran."},
        "fuel_used": {"type": "integer", "description": "Sandbox fuel the call used."},
        "tool_calls": {"type": "integer", "description": "Tool calls the program made."},
    },
    "required": [
        "success",
        "output",
        "result",
        "error",
        "traceback",
        "truncated",
        "duration_ms",
        "fuel_used",
        "tool_calls",
    ],
}

ANNOTATIONS = {
    # A program may call tools that change things; the tool itself cannot tell.
    "readOnlyHint": False,
    "destructiveHint": True,
    "idempotentHint": False,
    "openWorldHint": False,
}


class InvalidArguments(ValueError):
    """The arguments cannot be run; the message says why and what is accepted."""


@dataclass(frozen=True)
class Request:
    language: str
    code: str
    timeout_s: float


def parse_arguments(text):
    """Checks the arguments (JSON object text) and returns the `Request`."""
    try:
        args = json.loads(text)
    except ValueError as e:
        raise InvalidArguments(f"arguments are not valid JSON: {e}") from None
    if not isinstance(args, dict):
        raise InvalidArguments("arguments must be a JSON object with `language` and `code`")
    unknown = sorted(set(args) - set(INPUT_SCHEMA["properties"]))
    if unknown:
        raise InvalidArguments(
            f"unknown argument(s) {', '.join(unknown)}: execute_code takes language, code and "
            "timeout_s"
        )
    language = args.get("language", DEFAULT_LANGUAGE)
    if language in HOST_LANGUAGES:
        raise InvalidArguments(
            f"language {language!r} runs in the sandbox's JavaScript engine, which routes it "
            "there itself; call execute_code through the sandbox"
        )
    if language not in LANGUAGES:
        raise InvalidArguments(
            f"unsupported language {language!r}: supported languages are "
            + ", ".join(repr(lang) for lang in LANGUAGES)
        )
    code = args.get("code")
    if not isinstance(code, str):
        raise InvalidArguments("`code` must be a string holding the program's source")
    timeout_s = args.get("timeout_s", DEFAULT_TIMEOUT_S)
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, (int, float))
        or not 0 < timeout_s <= MAX_TIMEOUT_S
    ):
        raise InvalidArguments(
            f"`timeout_s` must be a number of seconds above 0 and at most {MAX_TIMEOUT_S}, "
            f"not {timeout_s!r}"
        )
    return Request(language=language, code=code, timeout_s=float(timeout_s))
