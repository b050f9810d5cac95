"""The component the sandbox's tests load beside the served examples
(sandbox/tests/all/python_tools.rs): the hostile tools and the context tools. Never served by a
tool set of policies/ (the hostile tools are in it). The examples themselves (py_echo, ...) are
in py_examples.wasm, which the examples tool set serves and the same tests check.
"""

from hostile import (
    py_call,
    py_escape,
    py_fetch,
    py_huge_output,
    py_memory_bomb,
    py_raise,
    py_refuse,
    py_spin,
    py_stdout_flood,
)

from mcp_tool import export

Tool = export(
    py_spin,
    py_memory_bomb,
    py_stdout_flood,
    py_huge_output,
    py_escape,
    py_fetch,
    py_raise,
    py_call,
    py_refuse,
)
