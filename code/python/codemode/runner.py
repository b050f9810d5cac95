"""Running one program and reporting what happened.

The program is compiled as the module `__main__` from the file name `<code>`. If its last
statement is an expression, that expression is evaluated separately so its value can be
returned (as in a notebook cell); otherwise, or if that value is None, the global `result` is
returned. stdout and stderr go to one capped buffer. An exception in the program is part of
the report (`success` false, `error`, `traceback` with the runner's own frames removed), not a
failure of the tool.

What the program may do is decided by the host (no network, files only where mounted, fuel,
memory, deadline); an OSError from a denied operation is just another exception here.
"""

import ast
import builtins
import json
import linecache
import os
import random
import sys
import time
import traceback

from . import jsonvalue, tools_api
from .capture import CappedText
from .descriptor import OUTPUT_CAP

FILENAME = "<code>"
# Characters kept of an error message and of a traceback (the end of a traceback is kept).
ERROR_CAP = 10_000
TRACEBACK_CAP = 20_000
# The whole report must stay under the host's 1 MiB output cap. Without the result it always
# does: at most 100,000 output characters (600,000 bytes if every one is escaped as \uXXXX),
# plus the capped error and traceback. A larger result is dropped with an explanation.
REPORT_BUDGET = 900_000

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Files whose frames are hidden from tracebacks besides this package (`app.py`, the bindings).
_internal_files = set()


def hide_frames_of(*paths):
    """Hides frames of these files (e.g. the WIT entry point) from user tracebacks."""
    _internal_files.update(os.path.abspath(p) for p in paths if p)


def run(code, host):
    """Runs `code` with `host` behind the `tools` module; returns the report as JSON text."""
    # The snapshot taken at build time would otherwise give every call the same random numbers.
    random.seed()
    out = CappedText(OUTPUT_CAP)
    session = tools_api.install(host)
    try:
        started = time.perf_counter()
        value, error = _execute(code, out)
        duration_ms = (time.perf_counter() - started) * 1000
    finally:
        tools_api.uninstall()
    report = {
        "success": error is None,
        "output": jsonvalue.clean_text(out.getvalue()),
        "result": jsonvalue.to_json(value),
        "error": describe(error) if error is not None else None,
        "traceback": format_traceback(error) if error is not None else None,
        "truncated": out.truncated,
        "duration_ms": round(duration_ms, 3),
        "fuel_used": host.fuel_used(),
        "tool_calls": session.calls,
    }
    return encode(report)


def _execute(code, out):
    """Runs the program; returns (value, exception or None)."""
    try:
        tree = ast.parse(code, filename=FILENAME, mode="exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, FILENAME, "exec", dont_inherit=True)
        tail = compile(last, FILENAME, "eval", dont_inherit=True) if last else None
    except (SyntaxError, ValueError) as e:  # ValueError: source with NUL bytes
        e.__traceback__ = None
        return None, e
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    namespace = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    value, error = None, None
    try:
        exec(body, namespace)
        if tail is not None:
            value = eval(tail, namespace)
    except SystemExit as e:
        if e.code not in (None, 0):
            error = e
    except BaseException as e:  # the program's failure is reported, whatever it is
        error = e
    finally:
        sys.stdout, sys.stderr = saved
    if value is None:
        value = namespace.get("result")
    return value, error


def describe(exc):
    """An exception as `Type: message`."""
    try:
        message = str(exc)
    except Exception:
        message = "(the exception's message could not be computed)"
    message = _shorten(message, ERROR_CAP)
    name = type(exc).__name__
    return jsonvalue.clean_text(f"{name}: {message}" if message else name)


def format_traceback(exc):
    """The traceback of `exc` with frames of the runner, the bindings and importlib removed."""
    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _trim(te, set())
        text = "".join(te.format())
    except Exception as e:  # a hostile exception can break formatting; say so
        text = f"(the traceback could not be formatted: {type(e).__name__}: {e})\n"
    return jsonvalue.clean_text(_shorten(text, TRACEBACK_CAP, keep_end=True))


def _trim(te, seen):
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = [f for f in te.stack if not _is_internal(f.filename)]
    te.stack = traceback.StackSummary.from_list(frames)
    for chained in (te.__cause__, te.__context__):
        if chained is not None:
            _trim(chained, seen)
    for member in getattr(te, "exceptions", None) or ():
        _trim(member, seen)


def _is_internal(filename):
    if filename.startswith("<frozen importlib"):
        return True
    if filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR + os.sep) or path in _internal_files


def _shorten(text, cap, keep_end=False):
    if len(text) <= cap:
        return text
    cut = len(text) - cap
    if keep_end:
        return f"... ({cut:,} characters cut)\n" + text[-cap:]
    return text[:cap] + f" ... ({cut:,} characters cut)"


#: How much of the program's output a failure message repeats (the detail has all of it).
FAILURE_OUTPUT_CAP = 2_000


def failure_message(text):
    """The message of a failed run, for the agent: the exception, the traceback and the end of
    what the program printed; None when the report `text` (from `run`) is a success. The whole
    report travels as the failure's structured detail."""
    report = json.loads(text)
    if report["success"]:
        return None
    parts = [f"the program raised {report['error'] or 'an error'}"]
    if report.get("traceback"):
        parts.append(report["traceback"].rstrip("\n"))
    if report.get("output"):
        output = _shorten(report["output"], FAILURE_OUTPUT_CAP, keep_end=True)
        parts.append("output before the failure:\n" + output.rstrip("\n"))
    return "\n".join(parts)


def encode(report):
    """The report as JSON text, with the result dropped if it would break the size budget."""
    text = json.dumps(report, ensure_ascii=False, allow_nan=False)
    size = len(text.encode("utf-8"))
    if size <= REPORT_BUDGET:
        return text
    problem = (
        f"the result is too large to return ({size:,} bytes of JSON with the rest of the "
        f"report; the limit is {REPORT_BUDGET:,}): return a summary instead"
    )
    report["result"] = None
    if report["success"]:
        report["success"] = False
        report["error"] = f"ValueError: {problem}"
    else:
        report["error"] = f"{report['error']} (and {problem})"
    return json.dumps(report, ensure_ascii=False, allow_nan=False)
