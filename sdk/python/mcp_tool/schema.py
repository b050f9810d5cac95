"""JSON Schemas derived from Python type hints, and the conversions between JSON values and the
typed values a tool function takes and returns.

Schemas are portable JSON Schema 2020-12, the same dialect the Rust SDK emits
(sdk/src/schema.rs): only standard keywords, subschemas inlined (no `$ref`), `Optional[T]` as
`anyOf` of single-type branches, "any JSON value" spelled as six single-type branches.

Supported hints: `str`, `int`, `float`, `bool`, `None`, `Any`, `list[T]`, `tuple[...]`, `set[T]`,
`dict[str, T]`, `Optional[T]` / `T | None`, unions, `Literal[...]`, `enum.Enum` subclasses,
dataclasses, `TypedDict`s, and `Annotated[T, ...]` whose metadata is a description (a string) or
extra schema keywords (a dict, e.g. `{"minimum": 0}`). Class docstrings describe objects.
"""

import dataclasses
import enum
import types
import typing
from typing import Annotated, Any, Literal, Union

ANY_VALUE = {
    "anyOf": [
        {"type": "object"},
        {"type": "array"},
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}

MISSING = object()
# A TypedDict key that is not required: optional in arguments and in results alike.
OPTIONAL_KEY = object()


class SchemaError(TypeError):
    """A type hint the SDK cannot turn into a schema."""


class DecodeError(ValueError):
    """A JSON value that does not decode into the declared type; `path` is a JSON pointer."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or '/'}: {message}")
        self.path = path


def _is_typeddict(tp) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__required_keys__") and hasattr(tp, "__annotations__")


def _class_doc(tp) -> str | None:
    doc = tp.__doc__
    if not doc:
        return None
    doc = " ".join(line.strip() for line in doc.strip().splitlines()).strip()
    # A dataclass without a docstring gets a generated one: "Name(field: type, ...)".
    if doc.startswith(f"{tp.__name__}("):
        return None
    return doc or None


def annotation_meta(tp):
    """Splits `Annotated[T, ...]` into `T` and the schema keywords its metadata adds."""
    extra = {}
    while typing.get_origin(tp) is Annotated:
        base, *meta = typing.get_args(tp)
        for m in meta:
            if isinstance(m, str):
                extra.setdefault("description", m)
            elif isinstance(m, dict):
                extra.update(m)
            elif hasattr(m, "documentation"):  # typing_extensions.Doc
                extra.setdefault("description", m.documentation)
        tp = base
    return tp, extra


def _json_default(value):
    """A default value as JSON, or MISSING when it is not plain JSON."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)) and all(
        v is None or isinstance(v, (str, int, float, bool)) for v in value
    ):
        return list(value)
    return MISSING


def object_schema(fields, description=None, *, output=False):
    """An object schema from `(name, hint, default)` triples (default MISSING when required)."""
    schema = {"type": "object"}
    if description:
        schema["description"] = description
    props, required = {}, []
    for name, hint, default, doc in fields:
        prop = schema_for(hint, output=output)
        if doc and "description" not in prop:
            prop = {"description": doc, **prop}
        if default is MISSING or (output and default is not OPTIONAL_KEY):
            required.append(name)
        elif default is not OPTIONAL_KEY:
            d = _json_default(default)
            if d is not MISSING:
                prop["default"] = d
        props[name] = prop
    schema["properties"] = props
    if required:
        schema["required"] = required
    return schema


def _fields_of(tp):
    """`(name, hint, default, description)` of a dataclass or TypedDict's fields."""
    hints = typing.get_type_hints(tp, include_extras=True)
    if dataclasses.is_dataclass(tp):
        out = []
        for f in dataclasses.fields(tp):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = MISSING
            out.append((f.name, hints[f.name], default, f.metadata.get("description")))
        return out
    required = tp.__required_keys__
    return [(k, h, MISSING if k in required else OPTIONAL_KEY, None) for k, h in hints.items()]


def schema_for(tp, *, output=False) -> dict:
    """The schema of values of type `tp`. `output` marks every object field required (results
    always carry every field), while argument fields with a default are optional."""
    tp, extra = annotation_meta(tp)
    schema = _schema_for(tp, output)
    if extra:
        if "anyOf" in schema and "description" in extra and len(extra) == 1:
            schema = {"description": extra["description"], **schema}
        else:
            schema = {**schema, **extra}
    return schema


def _schema_for(tp, output) -> dict:
    if tp is Any or tp is object:
        return dict(ANY_VALUE)
    if tp is None or tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is list or tp is tuple or tp is set or tp is frozenset:
        return {"type": "array"}
    if tp is dict:
        return {"type": "object"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        values = [v.value if isinstance(v, enum.Enum) else v for v in args]
        return _enum_schema(values)
    if origin is Union or origin is types.UnionType:
        branches = []
        for a in args:
            s = schema_for(a, output=output)
            branches.extend(s["anyOf"] if list(s) == ["anyOf"] else [s])
        return {"anyOf": branches}
    if origin in (list, set, frozenset) or origin is typing.Sequence or _is_abc(origin, "Sequence"):
        schema = {"type": "array", "items": schema_for(args[0], output=output) if args else dict(ANY_VALUE)}
        if origin in (set, frozenset):
            schema["uniqueItems"] = True
        return schema
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_for(args[0], output=output)}
        items = [schema_for(a, output=output) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if origin is dict or _is_abc(origin, "Mapping"):
        key = args[0] if args else str
        if key is not str:
            raise SchemaError(f"dict keys must be str in a JSON object, not {key!r}")
        value = schema_for(args[1], output=output) if args else dict(ANY_VALUE)
        return {"type": "object", "additionalProperties": value}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        schema = _enum_schema([m.value for m in tp])
        doc = _class_doc(tp) if tp.__doc__ != "An enumeration." else None
        return {"description": doc, **schema} if doc else schema
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or _is_typeddict(tp)):
        return object_schema(_fields_of(tp), _class_doc(tp), output=output)
    raise SchemaError(
        f"cannot derive a JSON schema for {tp!r}: use str, int, float, bool, list, dict, "
        "Literal, an Enum, a dataclass or a TypedDict"
    )


def _is_abc(origin, name):
    import collections.abc

    return origin is getattr(collections.abc, name)


def _enum_schema(values):
    kinds = {type(v) for v in values}
    schema = {}
    if kinds == {str}:
        schema["type"] = "string"
    elif kinds <= {int}:
        schema["type"] = "integer"
    schema["enum"] = list(values)
    return schema


# --- JSON value -> typed value -------------------------------------------------------------


def decode(tp, value, path=""):
    """`value` (parsed JSON) as a value of type `tp`; raises `DecodeError` naming the path."""
    tp, _ = annotation_meta(tp)
    if tp is Any or tp is object:
        return value
    if tp is None or tp is type(None):
        if value is not None:
            raise DecodeError(path, f"expected null, got {_kind(value)}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(path, f"expected a boolean, got {_kind(value)}")
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise DecodeError(path, f"expected an integer, got {_kind(value)}")
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise DecodeError(path, f"expected a number, got {_kind(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise DecodeError(path, f"expected a string, got {_kind(value)}")
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (list, tuple, set, frozenset):
        origin, args = tp, ()
    if tp is dict:
        origin, args = dict, ()
    if origin is Literal:
        for a in args:
            if (a.value if isinstance(a, enum.Enum) else a) == value and type(value) is type(
                a.value if isinstance(a, enum.Enum) else a
            ):
                return a
        raise DecodeError(path, f"expected one of {list(args)!r}, got {value!r}")
    if origin is Union or origin is types.UnionType:
        errors = []
        for a in args:
            try:
                return decode(a, value, path)
            except DecodeError as e:
                errors.append(str(e))
        raise DecodeError(path, "matches no branch: " + "; ".join(errors))
    if origin in (list, set, frozenset, tuple) or _is_abc(origin, "Sequence"):
        if not isinstance(value, list):
            raise DecodeError(path, f"expected an array, got {_kind(value)}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise DecodeError(path, f"expected {len(args)} items, got {len(value)}")
            return tuple(decode(a, v, f"{path}/{i}") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [decode(item, v, f"{path}/{i}") for i, v in enumerate(value)]
        return items if origin in (list, None) or _is_abc(origin, "Sequence") else origin(items)
    if origin is dict or _is_abc(origin, "Mapping"):
        if not isinstance(value, dict):
            raise DecodeError(path, f"expected an object, got {_kind(value)}")
        vt = args[1] if args else Any
        return {k: decode(vt, v, f"{path}/{_escape(k)}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise DecodeError(path, f"expected one of {[m.value for m in tp]!r}, got {value!r}") from None
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or _is_typeddict(tp)):
        if not isinstance(value, dict):
            raise DecodeError(path, f"expected an object, got {_kind(value)}")
        kwargs = decode_fields(_fields_of(tp), value, path)
        return tp(**kwargs)
    raise DecodeError(path, f"cannot decode into {tp!r}")


def decode_fields(fields, value: dict, path=""):
    """The keyword arguments for `fields` from the JSON object `value`."""
    out = {}
    for name, hint, default, _ in fields:
        if name in value:
            out[name] = decode(hint, value[name], f"{path}/{_escape(name)}")
        elif default is MISSING:
            raise DecodeError(path, f"missing field `{name}`")
    return out


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


# --- typed value -> JSON value -------------------------------------------------------------


def encode(value):
    """A tool's result as plain JSON data: dataclasses become objects, enums their values,
    tuples and sets arrays."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return encode(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [encode(v) for v in value]
    raise TypeError(f"a {type(value).__name__} is not JSON; return dataclasses, dicts, lists, str, int, float, bool or None")
