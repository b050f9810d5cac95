"""The standard library compiled into the component.

componentize-py builds the component by running `app.py` once and snapshotting the
interpreter's memory; at run time the component reads no files (the host mounts none for it
except, perhaps, the caller's workspace). So a module exists inside the sandbox only if it was
imported during the build: importing this module imports every module below, and a module
missing from the build's standard library fails the build instead of a user's program.

A user program importing anything else gets an ordinary `ModuleNotFoundError`.
"""

import contextlib
import importlib

# fmt: off
# What programs may import, by name (listed in the tool's description).
MODULES = (
    # text and data formats
    "json", "csv", "re", "string", "textwrap", "difflib", "unicodedata", "base64", "binascii",
    "html", "html.parser", "urllib.parse", "xml.etree.ElementTree", "tomllib", "struct",
    "codecs", "shlex", "fnmatch", "pprint", "sqlite3",
    # numbers and statistics
    "math", "cmath", "statistics", "decimal", "fractions", "numbers", "random", "secrets",
    # time
    "datetime", "time", "calendar",
    # collections and functional tools
    "collections", "collections.abc", "itertools", "functools", "operator", "heapq", "bisect",
    "array", "copy", "graphlib", "enum", "dataclasses", "typing", "types", "abc", "contextlib",
    "weakref",
    # hashing, ids and compression
    "hashlib", "hmac", "uuid", "zlib", "gzip",
    # files (only what the host mounts, e.g. /workspace) and the rest
    "io", "os", "os.path", "pathlib", "glob", "sys", "traceback", "inspect", "logging",
    "warnings", "ipaddress", "socket",
)

# Imported lazily by the modules above on first use (`datetime.strptime`, `hashlib.sha256`,
# `str.encode("latin-1")`, `help()`, ...), so they must be in the snapshot too. Names of
# CPython 3.14.
SUPPORT = (
    "pydoc", "_strptime", "_md5", "_sha1", "_sha2", "_sha3", "_blake2", "locale", "linecache",
    "encodings.ascii", "encodings.latin_1", "encodings.utf_8_sig", "encodings.utf_16",
    "encodings.utf_16_le", "encodings.utf_16_be", "encodings.utf_32", "encodings.cp1252",
    "encodings.cp437", "encodings.iso8859_15", "encodings.idna", "encodings.punycode",
    "encodings.unicode_escape", "encodings.raw_unicode_escape", "encodings.hex_codec",
    "encodings.base64_codec",
)
# fmt: on


def _load_all():
    missing = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError as e:
            missing.append(f"{name} ({e})")
    if missing:
        raise ImportError(
            "the build's standard library lacks modules the execute_code tool bundles: "
            + ", ".join(missing)
            + "; remove them from codemode/bundle.py or use a componentize-py that has them"
        )
    for name in SUPPORT:
        # Private modules differ between CPython versions (this package's unit tests run on
        # another one); the component's own test checks the features that need them.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


_load_all()
