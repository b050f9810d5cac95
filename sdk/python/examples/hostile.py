"""Hostile Python tools for the sandbox's tests (in py_tests.wasm, see sdk_tests.py), never served
by a tool set of policies/: each tool misbehaves in one way the sandbox must contain.
"""

import os
import socket
import sys
from typing import Any, Literal, Optional

from mcp_tool import Aborted, CallError, Context, Failed, InvalidArguments, export, http, tool


@tool
def py_spin() -> int:
    """Loop forever (fuel or the deadline must stop it)."""
    n = 0
    while True:
        n += 1


@tool
def py_memory_bomb() -> int:
    """Allocate until the memory cap stops it."""
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


@tool
def py_stdout_flood() -> int:
    """Print until the output cap stops it."""
    line = "x" * 1023
    while True:
        print(line)
        sys.stdout.flush()


@tool
def py_huge_output() -> str:
    """Return a 2 MB result (more than the output cap, well within the memory cap)."""
    return "y" * 2_000_000


@tool
def py_escape() -> dict:
    """Try what a tool set did not grant: files, environment, network. Reports each attempt."""
    out = {}
    for path in ("/etc/passwd", "/proc/self/environ", "/", "."):
        try:
            out[f"read {path}"] = "ALLOWED: " + (repr(os.listdir(path)) if os.path.isdir(path) else open(path).read(64))
        except Exception as e:
            out[f"read {path}"] = f"denied: {type(e).__name__}: {e}"
    out["env"] = "ALLOWED: " + repr(dict(os.environ)) if os.environ else "denied: empty"
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", 80))
        out["connect"] = "ALLOWED"
    except Exception as e:
        out["connect"] = f"denied: {type(e).__name__}: {e}"
    return out


@tool
def py_fetch(
    url: str,
    headers: Optional[dict[str, str]] = None,
    method: str = "GET",
    body: Optional[str] = None,
    timeout: Optional[float] = None,
) -> dict[str, Any]:
    """Fetch a URL; report the status, the body and the request headers the tool can see."""
    # The host adds the tool set's credential after the request leaves the tool: the headers
    # reported here are all the tool ever has. A refused request raises `http.HttpError` (a
    # `Failed`), which fails the call with its message.
    sent = {k.lower(): v for k, v in (headers or {}).items()}
    r = http.request(method, url, body, headers=sent, timeout=timeout)
    return {"status": r.status, "body": r.text(), "sent_headers": sent, "content_type": r.headers.get("content-type")}


@tool
def py_raise() -> int:
    """Raise an exception the tool does not handle."""
    raise KeyError("hostile python tool raises on purpose")


@tool
def py_call(tool: str, arguments: dict[str, Any], cx: Context) -> dict[str, Any]:
    """Call another tool through the host as the same caller; report the result or the error."""
    cx.log("info", "calling", tool=tool)
    caller = cx.caller()
    out = {"caller": caller.user, "roles": caller.roles}
    try:
        out["result"] = cx.call_tool(tool, arguments)
    except CallError as e:
        out["error"] = {"kind": e.kind, "message": e.message}
        if isinstance(e, Aborted):
            out["error"]["abort_kind"] = e.abort_kind
    out["nested_calls"] = cx.usage().nested_calls
    return out


@tool
def py_refuse(reason: Literal["arguments", "failure"]) -> str:
    """Refuse with the SDK's error kinds."""
    if reason == "arguments":
        raise InvalidArguments("refused on purpose: bad arguments")
    raise Failed("refused on purpose: failed")


Tool = export(py_spin, py_memory_bomb, py_stdout_flood, py_huge_output, py_escape, py_raise, py_call, py_refuse)
