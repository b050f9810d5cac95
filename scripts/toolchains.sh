# shellcheck shell=bash
# The toolchains that turn Python and JavaScript/TypeScript into components, pinned once and
# installed once for every build that uses them: scripts/build-python.sh (execute_code) and
# sdk/python/build.sh (Python tools) share componentize-py; scripts/build-javascript.sh (the
# JavaScript engine of execute_code) and sdk/typescript/build.sh (TypeScript tools) share
# componentize-js. Each install writes a stamp of the pin it was made for, so a changed pin
# reinstalls, and two pins can never take turns reinstalling the same folder.
#
# Sourced; the caller defines `die MESSAGE` (print and exit).

COMPONENTIZE_PY="componentize-py==0.25.*"
COMPONENTIZE_JS="@bytecodealliance/componentize-js@0.23.0"

# ensure_componentize_py VENV PYTHON LABEL [HINT]: VENV holds componentize-py at the pin,
# created with PYTHON when it does not. LABEL prefixes the progress line; HINT is added to the
# message when the install fails.
ensure_componentize_py() {
    local venv="$1" python="$2" label="$3" hint="${4:+ ($4)}"
    if [[ ! -x "$venv/bin/componentize-py" || "$(cat "$venv/.componentize-stamp" 2>/dev/null)" != "$COMPONENTIZE_PY" ]]; then
        command -v "$python" >/dev/null || die "$python is not on PATH; set PYTHON to a Python 3.10+"
        echo "$label: installing $COMPONENTIZE_PY into $venv" >&2
        "$python" -m venv "$venv" || die "cannot create a venv at $venv with $python"
        "$venv/bin/pip" install -q "$COMPONENTIZE_PY" || die "cannot install $COMPONENTIZE_PY from PyPI$hint"
        echo "$COMPONENTIZE_PY" >"$venv/.componentize-stamp"
    fi
}

# ensure_componentize_js DIR LABEL [HINT]: DIR/node_modules holds componentize-js at the pin.
ensure_componentize_js() {
    local dir="$1" label="$2" hint="${3:+ ($3)}"
    if [[ ! -f "$dir/node_modules/@bytecodealliance/componentize-js/src/cli.js" || "$(cat "$dir/.stamp" 2>/dev/null)" != "$COMPONENTIZE_JS" ]]; then
        command -v npm >/dev/null || die "npm is not on PATH"
        echo "$label: installing $COMPONENTIZE_JS into $dir" >&2
        mkdir -p "$dir"
        [[ -f "$dir/package.json" ]] || echo '{"name":"mcp-componentize-js","private":true}' >"$dir/package.json"
        (cd "$dir" && npm install --silent --no-audit --no-fund "$COMPONENTIZE_JS") ||
            die "cannot install $COMPONENTIZE_JS from npm$hint"
        echo "$COMPONENTIZE_JS" >"$dir/.stamp"
    fi
}
