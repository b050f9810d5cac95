"""The `tools` module: the tools the caller may use, as Python functions inside user code.

    from tools import log_store
    errors = log_store.search_logs(service="api", level="ERROR", limit=5)

`install(host)` puts a `tools` module in `sys.modules` for one program run. Its attributes are
the tool components the caller may use (from the host's `list-tools`, fetched on first use, so
a program that calls no tool pays nothing); each component is a module whose functions are its
tools. A function takes the tool's arguments as keywords (names, required ones and types from
the tool's input schema), sends them to the host's `call-tool` and returns the parsed JSON
result. A call that fails raises a `ToolError` subclass (see `errors`).

Also: `tools.call(name, **arguments)`, `tools.list()`, `tools.help(name)`, and the exception
classes. Every call goes through the host, which checks the caller's access and the limits;
nothing here is a security boundary.
"""

import difflib
import json
import sys
import types
from importlib.machinery import ModuleSpec

from . import errors, schema_doc

MODULE = "tools"


class ToolSpec:
    """One tool as user code sees it: its function's parameters, signature and docstring."""

    def __init__(self, info):
        self.name = info.name
        self.component = info.component
        self.description = info.description
        self.ident = schema_doc.identifier(info.name)
        self.input_schema = _parse_schema(info.input_schema) or {"type": "object"}
        self.output_schema = _parse_schema(info.output_schema)
        self.params = schema_doc.params(self.input_schema)
        self.by_keyword = {}
        for p in self.params:
            self.by_keyword.setdefault(p.name, p)
            self.by_keyword.setdefault(p.ident, p)
        # Arguments beyond the listed ones are sent only if the schema allows them (explicitly,
        # or by listing no properties at all).
        extra = self.input_schema.get("additionalProperties")
        self.open = (
            extra is True or isinstance(extra, dict) or "properties" not in self.input_schema
        )
        self.qualname = f"{self.component}.{self.ident}"
        self.signature = schema_doc.signature(self.params, self.output_schema)
        self.doc = schema_doc.docstring(
            self.qualname, self.signature, self.description, self.params, self.output_schema
        )

    def summary(self):
        return self.description.strip().splitlines()[0] if self.description.strip() else ""

    def bind(self, kwargs):
        """The JSON arguments object for keyword arguments `kwargs`, or a `TypeError`."""
        arguments = {}
        for key, value in kwargs.items():
            param = self.by_keyword.get(key)
            if param is None and key.endswith("_"):
                param = self.by_keyword.get(key[:-1])
            if param is None:
                if self.open:
                    arguments[key] = value
                    continue
                raise TypeError(self._unexpected(key))
            if param.name in arguments:
                raise TypeError(f"{self.qualname}() got argument {param.name!r} twice")
            if value is None and not param.required:
                continue  # None leaves an optional argument out
            arguments[param.name] = value
        missing = [p for p in self.params if p.required and p.name not in arguments]
        if missing:
            listed = "; ".join(
                f"{p.ident} ({p.label})" + (f": {p.description}" if p.description else "")
                for p in missing
            )
            raise TypeError(
                f"{self.qualname}() missing required keyword argument"
                f"{'s' if len(missing) > 1 else ''}: {listed}"
            )
        return arguments

    def _unexpected(self, key):
        names = [p.ident for p in self.params]
        hint = difflib.get_close_matches(key, names, n=1)
        text = f"{self.qualname}() got an unexpected keyword argument {key!r}"
        if hint:
            text += f"; did you mean {hint[0]!r}?"
        accepted = (
            ", ".join(f"{p.ident}{'' if p.required else '=None'}" for p in self.params)
            or "no arguments"
        )
        return text + f" It takes: {accepted}."


def _parse_schema(text):
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Session:
    """One program's use of the tools: the catalog (fetched on first use) and the calls made."""

    def __init__(self, host):
        self.host = host
        self.calls = 0
        self._specs = None
        self._components = None

    def specs(self):
        """Tool name -> `ToolSpec`, for the tools the caller may use."""
        if self._specs is None:
            self._specs = {info.name: ToolSpec(info) for info in self.host.list_tools()}
        return self._specs

    def components(self):
        """Component name -> its module of tool functions."""
        if self._components is None:
            grouped = {}
            for spec in self.specs().values():
                grouped.setdefault(spec.component, []).append(spec)
            self._components = {
                name: self._component_module(name, specs) for name, specs in grouped.items()
            }
        return self._components

    def invoke(self, name, arguments):
        """Calls tool `name` with the `arguments` dict through the host; the parsed result."""
        try:
            text = json.dumps(arguments, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(f"arguments for tool {name!r} cannot be sent as JSON: {e}") from None
        self.calls += 1
        result = self.host.call_tool(name, text)
        try:
            return json.loads(result)
        except ValueError:
            return result

    def _component_module(self, component, specs):
        module = types.ModuleType(
            f"{MODULE}.{component}",
            f"Tools of component {component!r}:\n"
            + "\n".join(f"  {s.ident}: {s.summary()}" for s in specs),
        )
        for spec in specs:
            if spec.ident not in module.__dict__:
                setattr(module, spec.ident, self._function(spec))

        def missing(attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            names = [s.ident for s in specs]
            hint = difflib.get_close_matches(attr, names, n=1)
            raise AttributeError(
                f"component {component!r} has no tool {attr!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" Its tools: {', '.join(names)}."
            )

        module.__getattr__ = missing
        return module

    def _function(self, spec):
        session = self

        def tool_function(*args, **kwargs):
            if args:
                example = ", ".join(f"{p.ident}=..." for p in spec.params if p.required)
                raise TypeError(
                    f"{spec.qualname}() takes keyword arguments only, e.g. "
                    f"{spec.qualname}({example})"
                )
            return session.invoke(spec.name, spec.bind(kwargs))

        tool_function.__name__ = spec.ident
        tool_function.__qualname__ = spec.ident
        tool_function.__module__ = f"{MODULE}.{spec.component}"
        tool_function.__doc__ = spec.doc
        tool_function.__signature__ = spec.signature
        tool_function.tool_name = spec.name
        return tool_function

    # The helpers exposed as `tools.call`, `tools.list` and `tools.help`.

    def call(self, name, /, **arguments):
        """Calls the tool `name` with keyword arguments and returns its parsed JSON result.

        Works for any tool name; the host decides whether you may call it (raising
        ToolNotFound, alike for a tool that does not exist and one you may not use).
        """
        spec = self.specs().get(name)
        return self.invoke(name, spec.bind(arguments) if spec else arguments)

    def list(self):
        """The tools you may call: name, component, one-line description and how to call it."""
        return [
            {
                "name": s.name,
                "component": s.component,
                "description": s.summary(),
                "usage": f"{MODULE}.{s.qualname}{s.signature}",
            }
            for s in sorted(self.specs().values(), key=lambda s: (s.component, s.name))
        ]

    def help(self, name=None):
        """Documentation of a tool (by name), of a component's tools, or an overview of all."""
        if name is None:
            lines = [f"{MODULE}.{t['name']}: {t['description']}" for t in self.list()]
            return "Tools you may call (see tools.help(name)):\n" + "\n".join(lines)
        if callable(name) and hasattr(name, "tool_name"):
            name = name.tool_name
        spec = self.specs().get(name)
        if spec is not None:
            return spec.doc
        members = [s for s in self.specs().values() if s.component == name]
        if members:
            return "\n\n".join(s.doc for s in members)
        raise ValueError(self.unknown(name))

    def unknown(self, name):
        """Why `name` is neither a tool nor a component the caller may use."""
        known = sorted(set(self.specs()) | set(self.components()))
        hint = difflib.get_close_matches(str(name), known, n=1)
        return (
            f"no tool or component named {name!r} among the tools you may call"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f". Components: {', '.join(sorted(self.components())) or '(none)'}; "
            "see tools.list()."
        )


class _ToolsModule(types.ModuleType):
    """The `tools` package: components appear as attributes on first use."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        session = self.__dict__["_session"]
        module = session.components().get(attr)
        if module is None:
            raise AttributeError(session.unknown(attr))
        return module

    def __dir__(self):
        return sorted(set(self.__dict__) | set(self.__dict__["_session"].components()))


class _ComponentFinder:
    """Makes `import tools.<component>` and `from tools.<component> import <tool>` work, and
    gives a helpful `ImportError` for a component the caller may not use."""

    def __init__(self, session):
        self.session = session

    def find_spec(self, fullname, path=None, target=None):
        prefix = MODULE + "."
        if not fullname.startswith(prefix) or "." in fullname[len(prefix) :]:
            return None
        component = fullname[len(prefix) :]
        if component not in self.session.components():
            raise ImportError(self.session.unknown(component), name=fullname)
        return ModuleSpec(fullname, self, origin="mcp-sandbox")

    def create_module(self, spec):
        return self.session.components()[spec.name[len(MODULE) + 1 :]]

    def exec_module(self, module):
        pass


def install(host):
    """Installs the `tools` module for one program run; returns its `Session`."""
    uninstall()
    session = Session(host)
    module = _ToolsModule(MODULE, __doc__)
    module.__path__ = []
    module._session = session
    module.call = session.call
    module.list = session.list
    module.help = session.help
    for cls in errors.ALL:
        setattr(module, cls.__name__, cls)
    sys.modules[MODULE] = module
    sys.meta_path.insert(0, _ComponentFinder(session))
    return session


def uninstall():
    """Removes what `install` added (the component starts fresh per call; tests do not)."""
    for name in [n for n in sys.modules if n == MODULE or n.startswith(MODULE + ".")]:
        del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _ComponentFinder)]
