"""Golden tests of the Python stub renderer (`codemode.schema_doc.render_stub`) against the
vectors shared with the Rust renderer of the `discovery` component
(tools/discovery/vectors/stubs.json, checked on the Rust side by tools/discovery/src/vectors.rs):
what an agent browses (`browse_tools`, `search_tools`) is what `execute_code` imports.

Run from code/python: python3 -m unittest discover -s tests
"""

import json
import pathlib
import unittest

from codemode import schema_doc

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "tools/discovery/vectors/stubs.json"


class SharedVectorTests(unittest.TestCase):
    def test_python_stubs_match_the_shared_vectors(self):
        vectors = json.loads(VECTORS.read_text())["vectors"]
        self.assertGreaterEqual(len(vectors), 4)
        for v in vectors:
            with self.subTest(v["name"]):
                rendered = schema_doc.render_stub(
                    v["component"], v["tool"], v["description"], v["input_schema"],
                    v["output_schema"],
                )
                self.assertEqual(rendered, v["python"])

    def test_the_signature_matches_the_one_functions_get(self):
        # The text signature and the `inspect.Signature` the tool functions carry agree.
        schema = json.loads(VECTORS.read_text())["vectors"][0]["input_schema"]
        params = schema_doc.params(schema)
        text = schema_doc.signature_text(params, None)
        sig = schema_doc.signature(params, None)
        positions = [text.index(f" {ident}: ") for ident in sig.parameters]
        self.assertEqual(positions, sorted(positions))
        self.assertEqual(len(positions), text.count(": "))
        self.assertEqual(schema_doc.annotation_text(sig.parameters["limit"].annotation), "int | None")

    def test_literals_are_python_source(self):
        self.assertEqual(schema_doc.python_literal("it's"), "'it\\'s'")
        self.assertEqual(schema_doc.python_literal([True, None, 1.5, {"a": 1}]),
                         "[True, None, 1.5, {'a': 1}]")


if __name__ == "__main__":
    unittest.main()
