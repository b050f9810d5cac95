"""Native tests of the mcp_tool SDK and its examples (no sandbox): `python3 -m unittest discover
-s sdk/python/tests`. The examples' `Tool = export(...)` works natively too (it then carries
only the toolbox)."""

import enum
import json
import sys
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypedDict

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "examples")]

from mcp_tool import (  # noqa: E402
    Aborted,
    CallError,
    Context,
    DescribeError,
    Failed,
    InvalidArguments,
    ToolError,
    Toolbox,
    tool,
)
from mcp_tool.schema import ANY_VALUE, schema_for  # noqa: E402
from mcp_tool.testing import FakeHost  # noqa: E402


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass
class Inner:
    """An inner object."""

    flag: bool
    note: Optional[str] = None


class Point(TypedDict):
    x: int
    y: int


@dataclass
class Out:
    items: list[Inner]
    by_name: dict[str, int] = field(default_factory=dict)


@tool(name="everything", title="All of it", read_only=True, destructive=False)
def everything(
    text: Annotated[str, "Some text."],
    count: Annotated[int, {"minimum": 0}],
    colour: Colour,
    mode: Literal["a", "b"] = "a",
    inner: Inner | None = None,
    point: Point | None = None,
    tags: list[str] = [],  # noqa: B006 (a default in the schema)
    anything: Any = None,
    *,
    cx: Context,
) -> Out:
    """Do everything.

    A second paragraph the description leaves out.

    Args:
        colour: The colour,
            on two lines.
    """
    cx.log("info", "everything", text=text)
    return Out(items=[inner or Inner(flag=True)], by_name={text: count})


class SchemaTests(unittest.TestCase):
    def test_a_function_signature_becomes_a_portable_input_schema(self):
        d = everything.describe()
        self.assertEqual(d["description"], "Do everything.")
        self.assertEqual(d["title"], "All of it")
        self.assertEqual(d["annotations"], {"readOnlyHint": True, "destructiveHint": False})
        s = d["inputSchema"]
        self.assertEqual(s["required"], ["text", "count", "colour"])
        p = s["properties"]
        self.assertNotIn("cx", p)
        self.assertEqual(p["text"], {"type": "string", "description": "Some text."})
        self.assertEqual(p["count"], {"type": "integer", "minimum": 0})
        self.assertEqual(p["colour"]["enum"], ["red", "green"])
        self.assertEqual(p["colour"]["description"], "The colour, on two lines.")
        self.assertEqual(p["mode"], {"type": "string", "enum": ["a", "b"], "default": "a"})
        self.assertEqual(p["inner"]["anyOf"][1], {"type": "null"})
        self.assertEqual(p["inner"]["anyOf"][0]["required"], ["flag"])
        self.assertEqual(p["inner"]["anyOf"][0]["description"], "An inner object.")
        self.assertEqual(p["point"]["anyOf"][0]["required"], ["x", "y"])
        self.assertEqual(p["tags"], {"type": "array", "items": {"type": "string"}, "default": []})
        self.assertEqual(p["anything"]["anyOf"], ANY_VALUE["anyOf"])
        text = json.dumps(d)
        for bad in ['"format"', '"type": [', '"$ref"']:
            self.assertNotIn(bad, text)

    def test_an_object_result_gets_an_output_schema_with_every_field_required(self):
        out = everything.describe()["outputSchema"]
        self.assertEqual(out["required"], ["items", "by_name"])
        self.assertEqual(out["properties"]["items"]["items"]["required"], ["flag", "note"])
        self.assertEqual(out["properties"]["by_name"]["additionalProperties"], {"type": "integer"})

    def test_a_typeddicts_optional_keys_stay_optional_in_results(self):
        class Partial(TypedDict, total=False):
            a: int

        class Row(Partial):
            b: str

        schema = schema_for(Row, output=True)
        self.assertEqual(schema["required"], ["b"])
        self.assertEqual(set(schema["properties"]), {"a", "b"})

    def test_a_text_result_has_no_output_schema(self):
        @tool
        def shout(text: str) -> str:
            """Shout."""
            return text.upper()

        self.assertNotIn("outputSchema", shout.describe())
        self.assertEqual(shout.run('{"text": "hi"}', FakeHost().context()), '"HI"')

    def test_unsupported_hints_and_bad_names_fail_to_describe(self):
        @tool(name="bad name")
        def a(x: int) -> int:
            return x

        @tool
        def b(x: complex) -> int:
            return 0

        with self.assertRaisesRegex(DescribeError, "contains ' '"):
            Toolbox(a).describe()
        with self.assertRaisesRegex(DescribeError, "cannot derive a JSON schema"):
            Toolbox(b).describe()
        with self.assertRaisesRegex(DescribeError, "two tools"):
            Toolbox(everything, everything).describe()
        self.assertEqual(schema_for(Optional[int]), {"anyOf": [{"type": "integer"}, {"type": "null"}]})


class CallTests(unittest.TestCase):
    def call(self, args, host=None):
        host = host or FakeHost()
        return json.loads(Toolbox(everything).call("everything", json.dumps(args), host.context())), host

    def test_arguments_decode_into_the_declared_types(self):
        out, host = self.call({"text": "t", "count": 2, "colour": "red", "inner": {"flag": False}})
        self.assertEqual(out, {"items": [{"flag": False, "note": None}], "by_name": {"t": 2}})
        self.assertEqual(host.logs, [("info", "everything", {"text": "t"})])

    def test_arguments_that_do_not_decode_are_invalid_arguments(self):
        with self.assertRaisesRegex(InvalidArguments, "missing field `count`"):
            self.call({"text": "t", "colour": "red"})
        with self.assertRaisesRegex(InvalidArguments, "/colour: expected one of"):
            self.call({"text": "t", "count": 1, "colour": "blue"})
        with self.assertRaisesRegex(InvalidArguments, "/inner/flag: expected a boolean"):
            self.call({"text": "t", "count": 1, "colour": "red", "inner": {"flag": 1}})

    def test_errors_keep_their_kinds_and_other_exceptions_fail_with_detail(self):
        @tool
        def fails(how: str, cx: Context) -> int:
            if how == "args":
                raise ToolError.invalid_arguments("bad")
            if how == "nested":
                return cx.call_tool("missing", {})
            if how == "aborted":
                return cx.call_tool("slow", {})
            return {}[how]

        def slow(_args):
            raise Aborted("ran out", tool="slow", abort_kind="fuel_exhausted")

        host = FakeHost(tools={"slow": slow})
        box = Toolbox(fails)
        with self.assertRaises(InvalidArguments):
            box.call("fails", '{"how": "args"}', host.context())
        with self.assertRaisesRegex(Failed, "nested tool call failed: calling `missing` failed \\(not_found\\)"):
            box.call("fails", '{"how": "nested"}', host.context())
        with self.assertRaisesRegex(Failed, "aborted \\(fuel_exhausted\\)"):
            box.call("fails", '{"how": "aborted"}', host.context())
        with self.assertRaisesRegex(Failed, "`fails` raised KeyError: 'boom'"):
            box.call("fails", '{"how": "boom"}', host.context())
        self.assertIn("KeyError", host.details[-1]["traceback"])
        self.assertIs(host.details[-1]["uncaught"], True)
        with self.assertRaisesRegex(Failed, "no tool named `nope`; it provides: fails"):
            box.call("nope", "{}", host.context())
        self.assertTrue(issubclass(CallError.Aborted, CallError))


class ExampleTests(unittest.TestCase):
    def test_the_examples_describe_and_answer(self):
        import examples

        box = examples.Tool.toolbox
        names = [d["name"] for d in box.describe()]
        self.assertEqual(names, ["py_echo", "py_text_transform", "py_text_stats"])
        cx = FakeHost().context()
        self.assertEqual(json.loads(box.call("py_echo", '{"text": "héllo"}', cx)), {"text": "héllo", "length": 5})
        cases = {
            "title": ("hello wORLD  x", "Hello World  X"),
            "slug": ("Hello, World! 2026", "hello-world-2026"),
            "word_count": (" a b\tc\n", "3"),
            "reverse": ("abc", "cba"),
        }
        for op, (text, want) in cases.items():
            got = json.loads(box.call("py_text_transform", json.dumps({"text": text, "operation": op}), cx))
            self.assertEqual(got, {"result": want}, op)
        got = json.loads(box.call("py_text_stats", json.dumps({"text": "a b\nc"}), cx))
        self.assertEqual(got, {"characters": 5, "words": 3, "lines": 2, "bytes": 5})


class HttpTests(unittest.TestCase):
    """`mcp_tool.http` natively: what it can check without wasi:http (the requests themselves are
    tested against a real server in sandbox/tests/all/sdk_http.rs)."""

    def test_a_url_that_is_not_http_is_refused_before_anything_else(self):
        from mcp_tool import http

        for url in ("ftp://example.com/x", "example.com/x", "http:///path"):
            with self.assertRaises(http.HttpError) as e:
                http.get(url)
            self.assertEqual(e.exception.code, "invalid_url", url)

    def test_outside_a_component_a_request_fails_as_a_tool_failure(self):
        from mcp_tool import http

        with self.assertRaises(Failed) as e:
            http.request("POST", "http://127.0.0.1:1/x", json_body={"a": 1})
        self.assertIsInstance(e.exception, http.HttpError)
        self.assertEqual(e.exception.code, "unavailable")
        self.assertIn("POST http://127.0.0.1:1/x", str(e.exception))

    def test_a_timeout_must_be_a_positive_number_of_seconds(self):
        from mcp_tool import http

        for bad in (0, -1.5):
            with self.assertRaises(ValueError) as e:
                http.get("http://127.0.0.1:1/x", timeout=bad)
            self.assertIn("positive number of seconds", str(e.exception))
        with self.assertRaises(http.HttpError) as e:
            http.get("http://127.0.0.1:1/x", timeout=0.5)
        self.assertEqual(e.exception.code, "unavailable")

    def test_a_response_decodes_its_body(self):
        from mcp_tool import http

        r = http.Response(201, {"content-type": "application/json"}, b'{"a": [1, "\xc3\xa9"]}')
        self.assertTrue(r.ok)
        self.assertEqual(r.json(), {"a": [1, "\u00e9"]})
        self.assertFalse(http.Response(404).ok)
        self.assertEqual(http.Response(200, body=b"\xff ok").text(), "\ufffd ok")


if __name__ == "__main__":
    unittest.main()
