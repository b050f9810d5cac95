"""An upstream MCP server for the federation tests, on the official Python SDK (MCPServer,
formerly FastMCP), over Streamable HTTP on loopback.

Env: PORT (required), STATELESS=1 (no sessions), JSON_RESPONSE=1 (plain JSON answers instead
of event streams), REQUIRE_TOKEN (every request must carry `Authorization: Bearer <it>`),
JWKS_URL (every request must carry an access token signed by a key of this JWKS),
DESCRIPTION (the `chameleon` tool's description), SSL_CERT and SSL_KEY (serve HTTPS with these
PEM files), EXTRAS=<tag> (also serve resources, a resource template and prompts whose answers
name the tag, and the `hold` tool; without it the server offers tools only).
Serves http(s)://127.0.0.1:$PORT/mcp.
"""
import asyncio
import base64
import json
import os

import uvicorn
from pydantic import BaseModel

try:
    from mcp.server.mcpserver import Context, MCPServer as Server  # mcp >= 2
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.utilities.types import Image
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context, FastMCP as Server
    from mcp.server.fastmcp.exceptions import ToolError
    from mcp.server.fastmcp.utilities.types import Image

mcp = Server(name="fed-upstream")

# A 1x1 transparent PNG.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class Weather(BaseModel):
    city: str
    celsius: float


@mcp.tool()
def echo(text: str) -> str:
    """Echo text back."""
    return text


@mcp.tool()
def pixel() -> Image:
    """Return a one-pixel PNG image."""
    return Image(data=PIXEL, format="png")


@mcp.tool()
def weather(city: str) -> Weather:
    """Structured weather for a city."""
    return Weather(city=city, celsius=21.5)


@mcp.tool()
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ToolError(message)


@mcp.tool(name="ns.lookup")
def ns_lookup(key: str) -> str:
    """A tool whose name has a dot."""
    return f"value of {key}"


@mcp.tool(name="very_long_tool_name_" + "x" * 60)
def long_name() -> str:
    """A tool whose name is longer than 64 characters."""
    return "long"


@mcp.tool(description=os.environ.get("DESCRIPTION", "Version 1."))
def chameleon() -> str:
    return "chameleon"


@mcp.tool()
async def slow(steps: int, ctx: Context) -> str:
    """Logs and reports progress for each step (on the call's event stream), then answers."""
    for i in range(steps):
        await ctx.info(f"step {i + 1} of {steps}")
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
        await asyncio.sleep(0.01)
    return f"done after {steps} steps"


class Answer(BaseModel):
    ok: bool


@mcp.tool()
async def ask(ctx: Context) -> str:
    """Asks the client a question (elicitation); reports what came back."""
    try:
        result = await ctx.elicit("Proceed?", Answer)
        return f"answered: {result}"
    except Exception as e:  # the client (here: the gateway) refused
        return f"refused: {e}"


@mcp.tool()
async def sleepy(seconds: float) -> str:
    """Answers after the given time."""
    await asyncio.sleep(seconds)
    return "awake"


@mcp.tool()
def whoami(ctx: Context) -> str:
    """The request headers the gateway sent, as JSON (what is and is not forwarded)."""
    request = ctx.request_context.request
    headers = dict(request.headers) if request is not None else {}
    keep = ("authorization", "x-mcp-user", "traceparent", "mcp-session-id", "mcp-protocol-version")
    return json.dumps({k: headers.get(k) for k in keep})


@mcp.tool()
async def progress_token(ctx: Context) -> str:
    """Reports one progress step, then answers with the progress token its request carried
    (JSON), so a test can see which token reached the upstream."""
    await ctx.report_progress(1, 1, "only step")
    meta = ctx.request_context.meta
    if isinstance(meta, dict):  # mcp >= 2: a TypedDict, the key in snake case
        token = meta.get("progress_token", meta.get("progressToken"))
    else:  # mcp 1.x: a model
        token = getattr(meta, "progressToken", None)
    return json.dumps(token)


EXTRAS = os.environ.get("EXTRAS")
if EXTRAS:
    # The same URI and template on every server started with a tag: the gateway must route
    # each read to the right one.
    @mcp.resource("shared://note", name="note", mime_type="text/plain")
    def shared_note() -> str:
        return f"note from {EXTRAS}"

    @mcp.resource(f"{EXTRAS}://only", name="only", description="Only on this server.")
    def only() -> str:
        return f"only {EXTRAS}"

    @mcp.resource(f"{EXTRAS}://pixel", name="pixel", mime_type="image/png")
    def pixel_resource() -> bytes:
        return PIXEL

    @mcp.resource("users://{id}/profile", name="profile")
    def profile(id: str) -> str:
        return f"{EXTRAS} profile of {id}"

    @mcp.prompt()
    def greet(who: str) -> str:
        """Greets someone."""
        return f"Hello {who}, from {EXTRAS}"

    @mcp.prompt(name="ns.summary")
    def summary() -> str:
        """A prompt whose name has a dot."""
        return f"Summarise, {EXTRAS}"

    @mcp.tool()
    async def hold(marker: str, seconds: float) -> str:
        """Creates the file `marker` when it starts, then answers after `seconds`."""
        with open(marker, "w") as f:
            f.write("started")
        await asyncio.sleep(seconds)
        return "held"


@mcp.tool()
async def flood(count: int, size: int, done_file: str, ctx: Context) -> str:
    """Reports progress `count` times as fast as it can, each with a message of `size`
    characters, then creates `done_file` and answers (a progress flood for a slow client)."""
    message = "x" * size
    for i in range(count):
        await ctx.report_progress(i + 1, count, message)
    open(done_file, "w").close()
    return f"flooded {count}"


def build_app():
    kw = dict(
        json_response=os.environ.get("JSON_RESPONSE") == "1",
        stateless_http=os.environ.get("STATELESS") == "1",
    )
    try:
        app = mcp.streamable_http_app(**kw)
    except TypeError:  # mcp 1.x: settings on the object
        mcp.settings.json_response = kw["json_response"]
        mcp.settings.stateless_http = kw["stateless_http"]
        app = mcp.streamable_http_app()
    token = os.environ.get("REQUIRE_TOKEN")
    jwks_url = os.environ.get("JWKS_URL")
    if not token and not jwks_url:
        return app
    want = f"Bearer {token}".encode()

    def allowed(header):
        if not jwks_url:
            return header == want
        # An OAuth access token: signed by the identity provider's key, not expired.
        import jwt  # PyJWT
        try:
            raw = header.decode().removeprefix("Bearer ")
            key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(raw)
            jwt.decode(raw, key.key, algorithms=["RS256"], options={"verify_aud": False})
            return True
        except Exception:
            return False

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and not allowed(dict(scope["headers"]).get(b"authorization", b"")):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})
            return
        await app(scope, receive, send)

    return guarded


if __name__ == "__main__":
    uvicorn.run(build_app(), host="127.0.0.1", port=int(os.environ["PORT"]),
                log_level="warning", lifespan="on",
                ssl_certfile=os.environ.get("SSL_CERT"), ssl_keyfile=os.environ.get("SSL_KEY"))
