"""The `execute_code` tool: run an agent's Python program inside the sandbox.

Modules:

- `bundle`: the standard-library modules compiled into the component (imported at build time);
- `descriptor`: the tool's name, description and schemas, and the checking of its arguments;
- `runner`: runs one program (last-expression value, captured output, trimmed traceback) and
  assembles the JSON report;
- `capture`: the capped stdout/stderr buffer;
- `jsonvalue`: turning any Python value into JSON the host accepts;
- `tools_api`: the `tools` module user code imports to call other tools;
- `schema_doc`: signatures and docstrings derived from the tools' JSON schemas;
- `errors`: the exceptions a tool call raises inside user code;
- `host`: the interface to the sandbox host, implemented over WIT by `app.py` and faked in tests.

Nothing here enforces security: isolation, limits and access control are the host's. This
package only makes the host's answers readable to the program and its author.
"""
