"""A fake host for testing tools natively (`python -m unittest`), without a sandbox: it records
log lines and failure details, and answers nested calls from a dict of functions."""

import json

from .context import Caller, Context, ToolSummary, Usage
from .errors import NotFound


class FakeHost:
    """`mcp_tool.context.Host` in memory. `tools` maps a name to a function taking the
    arguments (parsed JSON) and returning the result (JSON data); it may raise a `CallError`."""

    def __init__(self, *, user="tester", roles=("tester",), tools=None):
        self.caller_info = Caller(user, list(roles), "test")
        self.tools = dict(tools or {})
        self.logs: list[tuple[str, str, dict]] = []
        self.details: list[dict] = []
        self.deadline_ms: int | None = None
        self.nested_calls = 0

    def call_tool(self, name, arguments):
        if name not in self.tools:
            raise NotFound(f"no tool named {name!r}", tool=name)
        self.nested_calls += 1
        return json.dumps(self.tools[name](json.loads(arguments)))

    def list_tools(self):
        return [ToolSummary(n, "fake", "", '{"type":"object"}') for n in self.tools]

    def log(self, level, message, fields):
        self.logs.append((level, message, json.loads(fields) if fields else {}))

    def caller(self):
        return self.caller_info

    def usage(self):
        return Usage(0, 0, self.nested_calls)

    def limit_deadline(self, ms):
        self.deadline_ms = ms if self.deadline_ms is None else min(ms, self.deadline_ms)

    def fail_detail(self, detail):
        self.details.append(json.loads(detail))

    def context(self) -> Context:
        return Context(self)
