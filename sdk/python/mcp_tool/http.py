"""Outbound HTTP for tools: `get` and `request` over the component's wasi:http import.

    from mcp_tool import http

    r = http.get("https://api.example.com/v1/items", headers={"accept": "application/json"})
    items = r.json()

A request reaches only the origins the component's tool set grants (`capabilities.http` in its
manifest); the host adds the credential the grant names after the request leaves the tool, so the
tool never sees it, and enforces the grant's limits (requests per call, response size, timeout).
Anything else fails with `HttpError`, a `Failed`: left uncaught it fails the call with its
message, like any `ToolError`. Requests are synchronous; bodies are read whole into memory (the
grant's `max_response` bounds them).

The wasi:http bindings exist only inside the component; outside it (a native test) a request
raises `HttpError` with the code `unavailable`.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union
from urllib.parse import urlsplit

from .errors import Failed

# Imported now, not at the first request: componentize-py snapshots the modules imported while it
# builds, and a tool has no files to load a module from at run time.
try:
    from componentize_py_types import Err
    from wit_world.imports import outgoing_handler, streams
    from wit_world.imports import wasi_http_types as t
except ImportError:  # natively, or a world without wasi:http (MCP_TOOL_WIT)
    outgoing_handler = None

# Writes and reads go through wasi:io streams in chunks no larger than this (the blocking
# write-and-flush of wasi:io accepts at most 4096 bytes at a time).
_CHUNK = 4096
_READ = 64 * 1024
# The codes the sandbox answers a request with when the tool set's grant does not allow it.
_REFUSALS = frozenset({"HttpRequestDenied", "DestinationIpProhibited", "ConnectionLimitReached"})


class HttpError(Failed):
    """A request that got no response: refused by the host (an origin the tool set does not
    grant, a limit of the grant) or failed on the way. `code` is the wasi:http error code
    (`HttpRequestDenied`, `DestinationIpProhibited`, `HttpResponseBodySize`,
    `ConnectionLimitReached`, `ConnectionReadTimeout`, ...) or `invalid_url`, `unavailable`."""

    def __init__(self, message: str, *, code: str, url: str = ""):
        super().__init__(message)
        self.code = code
        self.url = url


@dataclass(frozen=True)
class Response:
    """A response: status, headers (lower-case names; repeated headers joined by `, `) and the
    whole body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded (undecodable bytes replaced)."""
        return self.body.decode(encoding, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def get(
    url: str, *, headers: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None
) -> Response:
    """`request("GET", url, headers=headers, timeout=timeout)`."""
    return request("GET", url, headers=headers, timeout=timeout)


def request(
    method: str,
    url: str,
    body: Union[bytes, str, None] = None,
    *,
    headers: Optional[Mapping[str, str]] = None,
    json_body: Any = None,
    timeout: Optional[float] = None,
) -> Response:
    """Send one request and read the whole response. `body` is sent as is (a `str` as UTF-8);
    `json_body`, if given instead, is sent as JSON with `content-type: application/json`.

    `timeout` (seconds) bounds each wait of this request: connecting, the response's status and
    headers, and each wait for more of the body (wasi:http's connect, first-byte and
    between-bytes timeouts); one that passes raises `HttpError` with the code
    `ConnectionTimeout` or `ConnectionReadTimeout`. The host bounds every request by the grant's
    `timeout` and the call's deadline as well, whichever comes first; without `timeout` those
    are the only bounds."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"{url!r} is not an http:// or https:// URL", code="invalid_url", url=url)
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if json_body is not None:
        body = json.dumps(json_body)
        headers.setdefault("content-type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    if body:
        headers.setdefault("content-length", str(len(body)))
    if outgoing_handler is None:
        raise HttpError(
            f"{method} {url}: no wasi:http here (only inside a component built by build.sh)",
            code="unavailable",
            url=url,
        )

    def fail(what: str, err: Any) -> HttpError:
        code = "unknown" if err is None else type(err).__name__.removeprefix("ErrorCode_")
        if code in _REFUSALS:
            what = "was refused"
        detail = getattr(err, "value", None)
        suffix = f" ({detail})" if detail not in (None, "") else ""
        return HttpError(f"{method} {url} {what}: {code}{suffix}", code=code, url=url)

    try:
        fields = t.Fields.from_list([(k, v.encode()) for k, v in headers.items()])
    except Err as e:
        raise HttpError(
            f"{method} {url}: a header is not allowed: {type(e.value).__name__}",
            code="invalid_header",
            url=url,
        ) from None
    req = t.OutgoingRequest(fields)
    req.set_method(_method(method))
    req.set_scheme(t.Scheme_Https() if parts.scheme == "https" else t.Scheme_Http())
    req.set_authority(parts.netloc)
    req.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    outgoing = req.body()
    options = None
    if timeout is not None:
        nanos = max(1, int(timeout * 1e9))
        options = t.RequestOptions()
        for set_timeout in (
            options.set_connect_timeout,
            options.set_first_byte_timeout,
            options.set_between_bytes_timeout,
        ):
            set_timeout(nanos)
    try:
        future = outgoing_handler.handle(req, options)
    except Err as e:
        raise fail("was refused", e.value) from None
    # The body is written once the request is handed over: the host reads it as it sends, so
    # writing more than its buffer before `handle` would wait forever.
    if body:
        with outgoing.write() as stream:
            try:
                for start in range(0, len(body), _CHUNK):
                    stream.blocking_write_and_flush(body[start : start + _CHUNK])
            except Err:
                pass  # the request failed on the way: the response future below says why
    try:
        t.OutgoingBody.finish(outgoing, None)
    except Err:
        pass  # likewise
    with future.subscribe() as ready:
        ready.block()
    answer = future.get()
    if answer is None or isinstance(answer, Err) or isinstance(answer.value, Err):
        err = None if answer is None or isinstance(answer, Err) else answer.value.value
        raise fail("failed", err) from None
    response = answer.value.value

    names: dict[str, list[str]] = {}
    for name, value in response.headers().entries():
        names.setdefault(name.lower(), []).append(value.decode("latin-1"))
    chunks = []
    incoming = response.consume()
    with incoming.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(_READ))
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                cause = t.http_error_code(e.value.value)
                if cause is not None:
                    raise fail("failed while reading the body", cause) from None
                raise HttpError(
                    f"{method} {url} failed while reading the body: {e.value.value.to_debug_string()}",
                    code="stream_error",
                    url=url,
                ) from None
    return Response(
        status=response.status(),
        headers={k: ", ".join(v) for k, v in names.items()},
        body=b"".join(chunks),
    )


def _method(method: str) -> Any:
    known = {
        "GET": t.Method_Get,
        "HEAD": t.Method_Head,
        "POST": t.Method_Post,
        "PUT": t.Method_Put,
        "DELETE": t.Method_Delete,
        "OPTIONS": t.Method_Options,
        "PATCH": t.Method_Patch,
    }
    upper = method.upper()
    return known[upper]() if upper in known else t.Method_Other(upper)
