"""Tools as plain typed Python functions: the `@tool` decorator, and the `Toolbox` that
describes a component's tools to the host and dispatches calls by name. Pure logic over JSON
text, so it runs (and is tested) on an ordinary CPython; `mcp_tool.component` wires it to the
WIT world.

A tool function's parameters are its arguments: their type hints give the input schema, their
defaults make them optional, and `Annotated[T, "text"]` or the docstring's `Args:` section
describe them. A parameter annotated `Context` gets the host handle instead. The return hint
gives the output schema when it describes an object (a dataclass, a TypedDict, `dict[str, T]`);
a `str` result is sent to the agent as text. The docstring's first paragraph is the tool's
description.
"""

import inspect
import json
import re
import traceback
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from .context import Context
from .errors import CallError, Failed, InvalidArguments, ToolError
from .schema import MISSING, DecodeError, decode_fields, encode, object_schema, schema_for

MAX_TOOL_NAME_LEN = 64
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class DescribeError(ValueError):
    """A tool component that cannot describe its tools (a bad name, a duplicate, an
    unsupported type); the host refuses to load it."""


def validate_tool_name(name: str) -> None:
    """The contract's rule: 1-64 characters of `a-z A-Z 0-9 _ -`."""
    if not name:
        raise DescribeError(f"invalid tool name {name!r}: it is empty")
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "_-"))), None)
    if bad is not None:
        raise DescribeError(f"invalid tool name {name!r}: it contains {bad!r}")
    if len(name) > MAX_TOOL_NAME_LEN:
        raise DescribeError(f"invalid tool name {name!r}: it is {len(name)} characters long")


@dataclass
class Tool:
    """One tool: its function and what the agent sees of it. Made by `@tool`."""

    function: Callable
    name: str
    description: str
    title: str | None = None
    annotations: dict = field(default_factory=dict)

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def _signature(self):
        # Worked out once: `export` describes the tools while componentize-py builds the
        # component, so every call starts from the snapshot with this already done.
        cached = self.__dict__.get("_cached_signature")
        if cached is None:
            cached = self.__dict__["_cached_signature"] = self._inspect()
        return cached

    def _inspect(self):
        hints = typing.get_type_hints(self.function, include_extras=True)
        params, context_param = [], None
        docs = _arg_docs(self.function.__doc__ or "")
        for p in inspect.signature(self.function).parameters.values():
            hint = hints.get(p.name, Any)
            if hint is Context or p.name in ("cx", "ctx") and p.name not in hints:
                context_param = p.name
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise DescribeError(f"tool `{self.name}`: *args and **kwargs cannot be described")
            default = MISSING if p.default is inspect.Parameter.empty else p.default
            params.append((p.name, hint, default, docs.get(p.name)))
        return params, context_param, hints.get("return", inspect.Signature.empty)

    def describe(self) -> dict:
        """The tool descriptor: name, title, description, schemas and annotations."""
        validate_tool_name(self.name)
        try:
            params, _, returns = self._signature()
            out = {
                "name": self.name,
                "description": self.description,
                "inputSchema": object_schema(params),
            }
            if self.title:
                out["title"] = self.title
            if returns is not inspect.Signature.empty:
                output = schema_for(returns, output=True)
                if output.get("type") == "object":
                    out["outputSchema"] = output
        except TypeError as e:
            raise DescribeError(f"tool `{self.name}`: {e}") from None
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def run(self, arguments: str, cx: Context) -> str:
        """Decodes `arguments` (JSON object text), runs the function, encodes its result."""
        params, context_param, _ = self._signature()
        try:
            value = json.loads(arguments) if arguments.strip() else {}
        except ValueError as e:
            raise InvalidArguments(f"the arguments of `{self.name}` are not JSON: {e}") from None
        if not isinstance(value, dict):
            raise InvalidArguments(f"the arguments of `{self.name}` must be a JSON object")
        try:
            kwargs = decode_fields(params, value)
        except DecodeError as e:
            raise InvalidArguments(f"the arguments of `{self.name}` do not decode: {e}") from None
        if context_param:
            kwargs[context_param] = cx
        result = self.function(**kwargs)
        try:
            return json.dumps(encode(result), ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise Failed(f"the result of `{self.name}` cannot be encoded as JSON: {e}") from None


def tool(
    function: Callable | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    title: str | None = None,
    read_only: bool | None = None,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool | None = None,
):
    """Declares a tool. `@tool` alone names it after the function; the keyword arguments set
    the name, the description (default: the docstring's first paragraph), a display title and
    the MCP annotations (`readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`;
    a hint left as None is not sent and MCP's default applies)."""

    def wrap(f: Callable) -> Tool:
        hints = {
            "readOnlyHint": read_only,
            "destructiveHint": destructive,
            "idempotentHint": idempotent,
            "openWorldHint": open_world,
        }
        return Tool(
            function=f,
            name=name or f.__name__,
            description=description or _summary(f.__doc__ or "") or f.__name__,
            title=title,
            annotations={k: v for k, v in hints.items() if v is not None},
        )

    return wrap(function) if function is not None else wrap


class Toolbox:
    """The tools of one component, in the order given."""

    def __init__(self, *tools: Tool):
        for t in tools:
            if not isinstance(t, Tool):
                raise DescribeError(f"{t!r} is not a tool; decorate it with @tool")
        self.tools = list(tools)

    def describe(self) -> list[dict]:
        """Every tool's descriptor; raises `DescribeError` for a bad name or a duplicate."""
        seen, out = set(), []
        for t in self.tools:
            d = t.describe()
            if t.name in seen:
                raise DescribeError(f"two tools are named {t.name!r}")
            seen.add(t.name)
            out.append(d)
        return out

    def call(self, name: str, arguments: str, cx: Context) -> str:
        """Runs the tool `name`; returns its result as JSON text or raises `ToolError`.

        A `CallError` the tool lets through fails it (like `?` in Rust); any other exception
        fails it too, with the exception as the message and the traceback as the failure's
        detail, so the agent sees what went wrong instead of a crashed instance.
        """
        target = next((t for t in self.tools if t.name == name), None)
        if target is None:
            known = ", ".join(t.name for t in self.tools)
            raise Failed(f"this component has no tool named `{name}`; it provides: {known}")
        try:
            return target.run(arguments, cx)
        except ToolError:
            raise
        except CallError as e:
            raise Failed(f"a nested tool call failed: {e}") from None
        except RecursionError as e:
            raise Failed(f"`{name}` recursed too deeply: {e}") from None
        except Exception as e:  # a bug in the tool: report it, do not trap
            tb = traceback.format_exc(limit=-8)
            try:
                cx.fail_detail({"error": f"{type(e).__name__}: {e}", "traceback": tb, "uncaught": True})
            except Exception:
                pass
            raise Failed(f"`{name}` raised {type(e).__name__}: {e}") from None


def _summary(doc: str) -> str:
    """The docstring's first paragraph, on one line."""
    para = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in para.splitlines()).strip()


def _arg_docs(doc: str) -> dict:
    """Parameter descriptions from a Google-style `Args:` section."""
    out, current, in_args = {}, None, False
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if not in_args:
            continue
        if not line.startswith((" ", "\t")) and stripped:
            break  # the next section
        m = re.match(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if m and (current is None or len(line) - len(line.lstrip()) <= current[1]):
            current = (m.group(1), len(line) - len(line.lstrip()))
            out[current[0]] = m.group(2).strip()
        elif current and stripped:
            out[current[0]] = f"{out[current[0]]} {stripped}".strip()
    return out
