#!/usr/bin/env bash
# Scaffolds a Python tool project, builds it into a component, runs its native tests and checks
# it with `mcp-sandbox tool check`: from nothing to a checked component in one command.
#
# Usage: sdk/python/new.sh NAME [DIR]     (DIR defaults to ./NAME)
#
#   NAME is the tool's name and the Python function's: lower-case letters, digits and `_`.
#   Writes DIR/app.py (the tool), DIR/test_app.py (native tests), DIR/build.sh (rebuild and
#   check), then runs DIR/build.sh. Works offline once componentize-py is installed (the first
#   build installs it, see sdk/python/build.sh).
#
# Environment:
#   MCP_SANDBOX   the mcp-sandbox binary (default: on PATH, else this repo's target/release or
#                 target/debug build)
set -euo pipefail

sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() {
    echo "new.sh: $*" >&2
    exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 NAME [DIR]"
name="$1"
dir="${2:-$name}"
[[ "$name" =~ ^[a-z][a-z0-9_]{0,63}$ ]] ||
    die "'$name' is not a valid tool name here: use lower-case letters, digits and _ (a Python identifier)"
[[ ! -e "$dir/app.py" ]] || die "$dir/app.py already exists; not overwriting it"
mkdir -p "$dir"

cat >"$dir/app.py" <<PY
"""The \`$name\` tool, built with the mcp_tool SDK into a WebAssembly component for the MCP gateway.

Rebuild and check: ./build.sh    Native tests: python3 -m unittest
"""

from dataclasses import dataclass
from typing import Annotated

from mcp_tool import Context, InvalidArguments, export, tool


@dataclass
class Shouted:
    """The shouted text."""

    text: Annotated[str, "The text in upper case, with exclamation marks."]


@tool(read_only=True, idempotent=True, open_world=False)
def $name(
    text: Annotated[str, "The text to shout."],
    marks: Annotated[int, "How many exclamation marks to add.", {"minimum": 0, "maximum": 10}] = 1,
    *,
    cx: Context,
) -> Shouted:
    """Upper-case a text and add exclamation marks"""
    if not text.strip():
        raise InvalidArguments("\`text\` is blank; give me something to shout")
    cx.log("info", "shouting", length=len(text), caller=cx.caller().user)
    return Shouted(text=text.upper() + "!" * marks)


# The WIT export componentize-py looks for: every tool of this component.
Tool = export($name)
PY

cat >"$dir/test_app.py" <<PY
"""Native tests of the \`$name\` tool: no sandbox, a fake host."""

import json
import unittest

import app
from mcp_tool import InvalidArguments
from mcp_tool.testing import FakeHost


class ${name^}Tests(unittest.TestCase):
    def test_shouts(self):
        out = app.Tool.toolbox.call("$name", json.dumps({"text": "hi", "marks": 2}), FakeHost().context())
        self.assertEqual(json.loads(out), {"text": "HI!!"})

    def test_blank_text_is_refused(self):
        with self.assertRaises(InvalidArguments):
            app.Tool.toolbox.call("$name", '{"text": " "}', FakeHost().context())


if __name__ == "__main__":
    unittest.main()
PY

cat >"$dir/build.sh" <<SH
#!/usr/bin/env bash
# Native tests, then the component ($name.wasm), then \`mcp-sandbox tool check\` on it.
set -euo pipefail
cd "\$(dirname "\${BASH_SOURCE[0]}")"
sdk="\${MCP_TOOL_PYTHON_SDK:-$sdk}"
PYTHONPATH="\$sdk\${PYTHONPATH:+:\$PYTHONPATH}" python3 -m unittest -q test_app
"\$sdk/build.sh" app.py $name.wasm
printf 'built %s (%d bytes)\n' "$name.wasm" "\$(stat -c %s $name.wasm)"
sandbox="\${MCP_SANDBOX:-\$(command -v mcp-sandbox || true)}"
repo="\$(cd "\$sdk/../.." && pwd)"
for candidate in "\$repo/target/release/mcp-sandbox" "\$repo/target/debug/mcp-sandbox"; do
    [[ -n "\$sandbox" ]] || { [[ -x "\$candidate" ]] && sandbox="\$candidate"; }
done
[[ -n "\$sandbox" ]] || { echo "build.sh: mcp-sandbox not found; set MCP_SANDBOX (cargo build -p mcp-sandbox)" >&2; exit 1; }
"\$sandbox" tool check $name.wasm --args '{"text": "hello"}'
SH
chmod +x "$dir/build.sh"
echo "new.sh: wrote $dir/app.py, $dir/test_app.py and $dir/build.sh; building" >&2
"$dir/build.sh"
