"""The Python examples served in the `examples` tool set, as one component: `py_echo`
(echo.py), `py_text_transform` and `py_text_stats` (text_transform.py).

Each example also builds alone (`sdk/python/build.sh sdk/python/examples/echo.py echo.wasm`);
they are served together because every Python component embeds its own CPython (~18 MB) that
the sandbox compiles once per component, so one component instead of two halves that cost.
"""

from echo import echo
from text_transform import stats, transform

from mcp_tool import export

Tool = export(echo, transform, stats)
