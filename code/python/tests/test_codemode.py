"""Unit tests of the `codemode` package on an ordinary CPython, with a fake host.

Run from code/python: python3 -m unittest discover -s tests
(The component itself is tested against the real sandbox by sandbox/tests/execute_code.rs.)
"""

import inspect
import json
import unittest

from codemode import descriptor, errors, runner, tools_api
from codemode.host import ToolInfo

ECHO_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "Text to send back."}},
    "required": ["text"],
}
TRANSFORM_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "operation": {"$ref": "#/$defs/Op"},
        "max-len": {"type": ["integer", "null"], "default": 10},
    },
    "required": ["text", "operation"],
    "$defs": {"Op": {"type": "string", "enum": ["upper", "lower"]}},
}


class FakeHost:
    def __init__(self):
        self.sent = []

    def list_tools(self):
        return [
            ToolInfo("echo", "echo", "Echo the text back.\nMore.", json.dumps(ECHO_SCHEMA), None),
            ToolInfo(
                "text_transform",
                "text_transform",
                "Transform text.",
                json.dumps(TRANSFORM_SCHEMA),
                json.dumps({"type": "object", "properties": {"result": {"type": "string"}}}),
            ),
        ]

    def call_tool(self, name, arguments):
        self.sent.append((name, json.loads(arguments)))
        if name == "secret":
            raise errors.ToolForbidden("tool 'secret' may not be called by user 'bob'", tool=name)
        if name == "slow":
            raise errors.ToolAborted("tool 'slow' ran past its limit", tool=name, kind="timeout")
        if name == "echo":
            return json.dumps({"text": json.loads(arguments)["text"]})
        return json.dumps({"result": "ok"})

    def fuel_used(self):
        return 42


def run(code):
    host = FakeHost()
    return json.loads(runner.run(code, host)), host


class RunnerTests(unittest.TestCase):
    def test_prints_and_the_last_expression_are_returned(self):
        r, _ = run("print('hello')\n1 + 2")
        self.assertEqual((r["success"], r["output"], r["result"]), (True, "hello\n", 3))
        self.assertEqual((r["error"], r["traceback"], r["fuel_used"]), (None, None, 42))

    def test_the_global_result_is_returned_when_there_is_no_final_expression(self):
        r, _ = run("result = {'a': (1, 2), 'b': {3}}\nx = 1")
        self.assertEqual(r["result"], {"a": [1, 2], "b": [3]})
        r, _ = run("result = 5\nprint('x')")
        self.assertEqual(r["result"], 5)

    def test_values_json_lacks_become_their_repr(self):
        r, _ = run("import datetime\n[float('nan'), datetime.date(2024, 1, 2), {(1, 2): 1}]")
        self.assertEqual(r["result"], ["nan", "datetime.date(2024, 1, 2)", {"(1, 2)": 1}])
        r, _ = run("a = []\na.append(a)\na")
        self.assertEqual(r["result"], ["[...]"])

    def test_an_exception_is_reported_with_the_users_frames_only(self):
        r, _ = run("def f(x):\n    return 1 / x\n\nf(0)")
        self.assertFalse(r["success"])
        self.assertEqual(r["error"], "ZeroDivisionError: division by zero")
        tb = r["traceback"]
        self.assertIn('File "<code>", line 2, in f', tb)
        self.assertIn("return 1 / x", tb)
        self.assertNotIn("runner.py", tb)

    def test_a_syntax_error_names_the_line(self):
        r, _ = run("x = 1\ny = (\n")
        self.assertFalse(r["success"])
        self.assertTrue(r["error"].startswith("SyntaxError:"), r["error"])
        self.assertIn("line 2", r["traceback"])
        self.assertNotIn("ast.py", r["traceback"])

    def test_exit_zero_is_success_and_other_codes_are_errors(self):
        self.assertTrue(run("import sys\nsys.exit(0)")[0]["success"])
        r, _ = run("import sys\nsys.exit(3)")
        self.assertEqual((r["success"], r["error"]), (False, "SystemExit: 3"))

    def test_output_is_capped_and_flagged(self):
        r, _ = run("print('x' * 200_000, end='')")
        self.assertEqual((len(r["output"]), r["truncated"]), (descriptor.OUTPUT_CAP, True))
        r, _ = run(f"print('x' * {descriptor.OUTPUT_CAP}, end='')")
        self.assertFalse(r["truncated"])

    def test_stderr_is_captured_with_stdout(self):
        r, _ = run("import sys\nprint('a')\nprint('b', file=sys.stderr)")
        self.assertEqual(r["output"], "a\nb\n")

    def test_a_result_too_large_for_the_report_is_dropped_with_an_explanation(self):
        r, _ = run("'x' * 2_000_000")
        self.assertEqual((r["success"], r["result"]), (False, None))
        self.assertIn("too large", r["error"])

    def test_lone_surrogates_do_not_break_the_report(self):
        r, _ = run("print('\\ud800')\n'\\udfff'")
        self.assertEqual((r["output"], r["result"]), ("?\n", "?"))


class FailureTests(unittest.TestCase):
    """A program that raised fails the call; its message is what the agent reads first."""

    def test_a_success_has_no_failure_message(self):
        self.assertIsNone(runner.failure_message(runner.run("print(1)", FakeHost())))

    def test_the_message_names_the_exception_traceback_and_output(self):
        text = runner.run("print('step 1')\ndef f():\n    raise KeyError('host')\nf()", FakeHost())
        message = runner.failure_message(text)
        self.assertTrue(message.startswith("the program raised KeyError: 'host'"), message)
        self.assertIn('File "<code>", line 3, in f', message)
        self.assertIn("output before the failure:\nstep 1", message)

    def test_long_output_is_cut_from_the_start_in_the_message(self):
        text = runner.run("print('a' * 50_000 + 'END')\n1 / 0", FakeHost())
        message = runner.failure_message(text)
        self.assertIn("END", message)
        self.assertLess(len(message), runner.FAILURE_OUTPUT_CAP + 1_000)


class ToolsTests(unittest.TestCase):
    def test_components_are_importable_with_typed_functions(self):
        r, host = run(
            "from tools import echo\nimport tools.text_transform as tt\n"
            "[echo.echo(text='hi'), tt.text_transform(text='a', operation='upper')]"
        )
        self.assertEqual(r["result"], [{"text": "hi"}, {"result": "ok"}])
        self.assertEqual(r["tool_calls"], 2)
        self.assertEqual(host.sent[1], ("text_transform", {"text": "a", "operation": "upper"}))

    def test_signature_and_docstring_come_from_the_schema(self):
        session = tools_api.Session(FakeHost())
        fn = session.components()["text_transform"].text_transform
        sig = str(inspect.signature(fn))
        self.assertIn("text: str", sig)
        self.assertIn("operation: Literal['upper', 'lower']", sig)
        self.assertIn("max_len: int | None = 10", sig.replace("Optional[int]", "int | None"))
        self.assertIn("max_len (sent as 'max-len')", fn.__doc__)
        self.assertIn("Returns: a dict", fn.__doc__)
        self.assertIn("result (string)", fn.__doc__)

    def test_argument_names_are_checked_against_the_schema(self):
        r, _ = run("from tools import echo\necho.echo(txt='hi')")
        self.assertEqual(r["error"].split(":")[0], "TypeError")
        self.assertIn("did you mean 'text'", r["error"])
        r, _ = run("from tools import echo\necho.echo()")
        self.assertIn("missing required keyword argument: text (string)", r["error"])
        r, _ = run("from tools import echo\necho.echo('hi')")
        self.assertIn("keyword arguments only", r["error"])
        self.assertEqual(r["tool_calls"], 0)

    def test_python_names_map_to_schema_names_and_none_leaves_optionals_out(self):
        _, host = run(
            "import tools\ntools.text_transform.text_transform("
            "text='a', operation='lower', max_len=3)\n"
            "tools.call('text_transform', text='b', operation='upper', max_len=None)"
        )
        self.assertEqual(host.sent[0][1]["max-len"], 3)
        self.assertNotIn("max-len", host.sent[1][1])

    def test_host_errors_become_tool_exceptions(self):
        r, _ = run(
            "import tools\ntry:\n    tools.call('secret')\n"
            "except tools.ToolForbidden as e:\n    result = [e.kind, e.tool, str(e)]"
        )
        self.assertEqual(
            r["result"], ["forbidden", "secret", "tool 'secret' may not be called by user 'bob'"]
        )
        r, _ = run("import tools\ntools.call('slow')")
        self.assertTrue(r["error"].startswith("ToolAborted: tool 'slow'"), r["error"])
        self.assertIn("tools.call('slow')", r["traceback"])
        self.assertNotIn("tools_api.py", r["traceback"])

    def test_unknown_components_fail_with_the_list_of_known_ones(self):
        r, _ = run("from tools import ehco")
        self.assertTrue(r["error"].startswith("ImportError"), r["error"])
        self.assertIn("did you mean 'echo'", r["error"])
        r, _ = run("import tools\ntools.echo.ecoh")
        self.assertIn("Its tools: echo", r["error"])

    def test_list_and_help_describe_the_tools(self):
        r, _ = run("import tools\n[tools.list(), tools.help('echo'), tools.help()]")
        listing, doc, overview = r["result"]
        self.assertEqual(listing[0]["name"], "echo")
        self.assertEqual(listing[0]["description"], "Echo the text back.")
        self.assertEqual(listing[0]["usage"], "tools.echo.echo(*, text: str) -> Any")
        self.assertIn("text (string): Text to send back.", doc)
        self.assertIn("tools.text_transform: Transform text.", overview)

    def test_the_catalog_is_fetched_only_when_used(self):
        class Counting(FakeHost):
            listed = 0

            def list_tools(self):
                Counting.listed += 1
                return super().list_tools()

        runner.run("1", Counting())
        self.assertEqual(Counting.listed, 0)


class ArgumentTests(unittest.TestCase):
    def test_other_languages_are_refused_naming_the_supported_ones(self):
        with self.assertRaises(descriptor.InvalidArguments) as cx:
            descriptor.parse_arguments('{"language": "ruby", "code": "x"}')
        self.assertIn("supported languages are 'python'", str(cx.exception))

    def test_timeout_is_checked_and_defaults(self):
        req = descriptor.parse_arguments('{"language": "python", "code": ""}')
        self.assertEqual(req.timeout_s, descriptor.DEFAULT_TIMEOUT_S)
        for bad in ("0", "121", "true", '"5"'):
            with self.assertRaises(descriptor.InvalidArguments):
                args = f'{{"language": "python", "code": "", "timeout_s": {bad}}}'
                descriptor.parse_arguments(args)


if __name__ == "__main__":
    unittest.main()
