"""The component the sandbox's tests load (sandbox/tests/all/python_tools.rs): the examples and
the hostile tools in one component, so the tests compile one CPython instead of two. Never
served by a tool set of policies/ (the hostile tools are in it).
"""

from echo import echo
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
from text_transform import stats, transform

from mcp_tool import export

Tool = export(
    echo,
    transform,
    stats,
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
