"""Turning a program's result into JSON the host accepts.

JSON-native values pass through (tuples become arrays, sets sorted arrays); anything else
becomes its `repr()`. NaN and infinities, which JSON lacks, become their repr too, and text is
made valid UTF-8 (lone surrogates become `?`), because the host parses the result as strict
JSON and a single bad value would otherwise lose the whole report.
"""

import math

# Containers nested deeper than this are given as their repr().
MAX_DEPTH = 100
# Integers this wide have under 4300 decimal digits (`sys.get_int_max_str_digits()`).
MAX_INT_BITS = 14_000


def clean_text(s):
    """`s` as valid UTF-8 text."""
    if s.isascii():
        return s
    return s.encode("utf-8", "replace").decode("utf-8")


def to_json(value):
    """A JSON-serialisable copy of `value`."""
    return _convert(value, 0, set())


def _convert(value, depth, active):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Python refuses to write integers past 4300 digits as text.
        if value.bit_length() > MAX_INT_BITS:
            return f"<int of {value.bit_length()} bits, too large to write>"
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return clean_text(str(value))
    if not isinstance(value, (dict, list, tuple, set, frozenset)):
        return _repr(value)
    if depth >= MAX_DEPTH:
        return _repr(value)
    if id(value) in active:
        return "{...}" if isinstance(value, dict) else "[...]"
    active.add(id(value))
    try:
        if isinstance(value, dict):
            return {_key(k): _convert(v, depth + 1, active) for k, v in value.items()}
        items = value
        if isinstance(value, (set, frozenset)):
            try:
                items = sorted(value)
            except TypeError:
                items = list(value)
        return [_convert(v, depth + 1, active) for v in items]
    finally:
        active.discard(id(value))


def _key(k):
    # Non-string keys are written as `json.dumps` would write them.
    if isinstance(k, str):
        return clean_text(k)
    if k is None:
        return "null"
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, int):
        return str(int(k))
    if isinstance(k, float):
        return repr(float(k))
    return _repr(k)


def _repr(value):
    try:
        text = repr(value)
    except Exception as e:  # a user-defined __repr__ may fail
        text = f"<{type(value).__name__} object (repr failed: {type(e).__name__})>"
    return clean_text(text)
