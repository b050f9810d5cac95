"""Python signatures and docstrings for tools, derived from their JSON schemas.

Tools publish a JSON Schema of their arguments (and usually of their result). User code sees
each tool as a function taking those arguments as keywords; this module turns a schema into
the function's parameters, `inspect.Signature` and docstring, so `help()`, `tools.help()` and
error messages speak Python.

Only what documentation needs is read from a schema (types, enums, descriptions, defaults,
local `$ref`s); validating values against it is the host's job.

`render_stub` gives the whole stub of a tool as text, exactly as the `discovery` component's
Rust renderer (tools/discovery/src/stub.rs) does: both are pinned to the shared vectors in
tools/discovery/vectors/stubs.json (tests/test_schema_doc.py and the Rust unit tests).
"""

import functools
import inspect
import json
import keyword
import operator
import typing
from dataclasses import dataclass

_PY_TYPES = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}
# `$ref` chains longer than this are left unresolved.
_MAX_REF_DEPTH = 8


@dataclass(frozen=True)
class Param:
    """One argument of a tool."""

    name: str  # as the tool expects it
    ident: str  # the Python keyword that stands for it
    required: bool
    label: str  # its type, in words
    description: str
    annotation: object
    default: object  # `inspect.Parameter.empty` when required


def identifier(name):
    """A Python identifier for a tool or argument name (`max-results` -> `max_results`)."""
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    return ident


def resolve(schema, root, depth=0):
    """`schema` with a local `$ref` (`#/$defs/...`, `#/definitions/...`) followed."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#/") or depth >= _MAX_REF_DEPTH:
        return schema if isinstance(schema, dict) else {}
    target = root
    for part in ref[2:].split("/"):
        target = target.get(part) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return schema
    merged = dict(target)
    merged.update({k: v for k, v in schema.items() if k != "$ref"})
    return resolve(merged, root, depth + 1)


def _json(value):
    """JSON text as serde_json writes it: compact, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def type_label(schema, root):
    """The type a schema describes, in words: `string`, `array of integer`, `"a" or "b"`."""
    s = resolve(schema, root)
    if "enum" in s and isinstance(s["enum"], list):
        return "one of " + ", ".join(_json(v) for v in s["enum"])
    if "const" in s:
        return _json(s["const"])
    variants = s.get("anyOf") or s.get("oneOf")
    if isinstance(variants, list) and variants:
        return " or ".join(type_label(v, root) for v in variants)
    t = s.get("type")
    if isinstance(t, list):
        return " or ".join(str(x) for x in t)
    if t == "array" and isinstance(s.get("items"), dict):
        return f"array of {type_label(s['items'], root)}"
    return t if isinstance(t, str) else "any"


def annotation(schema, root):
    """A Python type for a schema, for signatures: `str`, `Literal['a', 'b']`, `int | None`."""
    s = resolve(schema, root)
    enum = s.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, (str, int, bool)) for v in enum):
        return typing.Literal[tuple(enum)]
    variants = s.get("anyOf") or s.get("oneOf")
    if isinstance(variants, list) and variants:
        return _union([annotation(v, root) for v in variants])
    t = s.get("type")
    if isinstance(t, list):
        return _union([_PY_TYPES.get(x, typing.Any) for x in t])
    if t == "array" and isinstance(s.get("items"), dict):
        return list[annotation(s["items"], root)]
    return _PY_TYPES.get(t, typing.Any) if isinstance(t, str) else typing.Any


def _union(types_):
    return functools.reduce(operator.or_, dict.fromkeys(types_))


def params(input_schema):
    """The arguments of a tool: required ones first, each in schema order."""
    props = input_schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(input_schema.get("required") or [])
    out = []
    for name, prop in props.items():
        prop = resolve(prop, input_schema)
        is_required = name in required
        label = type_label(prop, input_schema)
        default = inspect.Parameter.empty
        if not is_required:
            default = prop.get("default")
            label += ", optional" + (
                f", default {_json(default)}" if default is not None else ""
            )
        out.append(
            Param(
                name=name,
                ident=identifier(name),
                required=is_required,
                label=label,
                description=" ".join(str(prop.get("description", "")).split()),
                annotation=annotation(prop, input_schema),
                default=default,
            )
        )
    out.sort(key=lambda p: not p.required)
    return out


def signature(parameters, output_schema):
    """The keyword-only signature of a tool function."""
    seen = set()
    sig_params = []
    for p in parameters:
        if p.ident in seen:
            continue
        seen.add(p.ident)
        sig_params.append(
            inspect.Parameter(
                p.ident, inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=p.annotation
            )
        )
    returns = annotation(output_schema, output_schema) if output_schema else typing.Any
    return inspect.Signature(sig_params, return_annotation=returns)


def returns_text(output_schema):
    """What a tool returns, in words (one line per field of an object result)."""
    if not output_schema:
        return "Returns: the tool's JSON result."
    s = resolve(output_schema, output_schema)
    head = " ".join(str(s.get("description", "")).split())
    props = s.get("properties") if s.get("type") == "object" else None
    if not isinstance(props, dict):
        text = f"Returns: {type_label(s, output_schema)}"
        return text + (f". {head}" if head else "")
    lines = ["Returns: a dict" + (f". {head}" if head else "")]
    for name, prop in props.items():
        prop = resolve(prop, output_schema)
        desc = " ".join(str(prop.get("description", "")).split())
        label = type_label(prop, output_schema)
        lines.append(f"  {name} ({label})" + (f": {desc}" if desc else ""))
    return "\n".join(lines)


def docstring(call_name, sig, description, parameters, output_schema):
    """The docstring of a tool function: call signature, description, arguments, result."""
    lines = [f"{call_name}{sig}", ""]
    lines.extend(description.strip().splitlines() or ["(no description)"])
    lines.append("")
    if parameters:
        lines.append("Arguments (keywords only):")
        for p in parameters:
            name = p.ident if p.ident == p.name else f"{p.ident} (sent as {p.name!r})"
            lines.append(f"  {name} ({p.label})" + (f": {p.description}" if p.description else ""))
    else:
        lines.append("Arguments: none.")
    lines.append(returns_text(output_schema))
    return "\n".join(lines)


def python_literal(value):
    """A JSON value as Python source (`None`, `True`, `'text'`, `[1, 2]`)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return _json(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
        return f"'{escaped}'"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"'{k}': {python_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def annotation_text(annotation_):
    """An annotation as source, the same on every Python version: `str`, `int | None`,
    `Literal['a', 'b']`, `list[int]`, `Any`."""
    if annotation_ is typing.Any:
        return "Any"
    if annotation_ is type(None):
        return "None"
    origin = typing.get_origin(annotation_)
    args = typing.get_args(annotation_)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is typing.Union or (origin is not None and origin.__name__ == "UnionType"):
        return " | ".join(annotation_text(a) for a in args)
    if origin is list:
        return f"list[{annotation_text(args[0])}]"
    return getattr(annotation_, "__name__", repr(annotation_))


def signature_text(parameters, output_schema):
    """`(*, service: str | None = None) -> dict`: the keyword-only signature as source."""
    seen = set()
    rendered = []
    for p in parameters:
        if p.ident in seen:
            continue
        seen.add(p.ident)
        text = f"{p.ident}: {annotation_text(p.annotation)}"
        if not p.required:
            text += f" = {python_literal(p.default)}"
        rendered.append(text)
    returns = annotation(output_schema, output_schema) if output_schema else typing.Any
    head = f"(*, {', '.join(rendered)})" if rendered else "()"
    return f"{head} -> {annotation_text(returns)}"


def render_stub(component, tool, description, input_schema, output_schema):
    """The whole stub of a tool as Python source, as `browse_tools` shows it."""
    ident = identifier(tool)
    parameters = params(input_schema)
    sig = signature_text(parameters, output_schema)
    doc = docstring(f"{component}.{ident}", sig, description, parameters, output_schema)
    body = doc.split("\n", 2)[2].replace('"""', '\\"\\"\\"')
    lines = "\n".join(f"    {line}" if line else "" for line in body.split("\n"))
    return (
        f"# tools/{component}/{ident}.py\n"
        f"# In execute_code: `from tools import {component}` then `{component}.{ident}(...)`.\n"
        f'def {ident}{sig}:\n    """\n{lines}\n    """\n'
    )
