#!/usr/bin/env bash
# Scaffolds a TypeScript tool project, builds it into a component (type check, bundle,
# componentize-js) and checks it with `mcp-sandbox tool check`, in one command.
#
# Usage: sdk/typescript/new.sh NAME [DIR]     (DIR defaults to ./NAME)
#
#   NAME is the tool's name: letters, digits, `_` and `-`, starting with a letter.
#   Writes DIR/app.ts (the tool), DIR/tsconfig.json (for editors: the SDK and the WIT
#   declarations), DIR/build.sh (rebuild and check), then runs DIR/build.sh. Works offline once
#   componentize-js is installed (the first build installs it, see sdk/typescript/build.sh).
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
[[ "$name" =~ ^[A-Za-z][A-Za-z0-9_-]{0,63}$ ]] ||
    die "'$name' is not a valid tool name: use 1-64 letters, digits, _ and -, starting with a letter"
[[ ! -e "$dir/app.ts" ]] || die "$dir/app.ts already exists; not overwriting it"
mkdir -p "$dir"

cat >"$dir/app.ts" <<TS
// The \`$name\` tool, built with the mcp-tool SDK into a WebAssembly component for the MCP gateway.
// Rebuild and check: ./build.sh
import { defineTool, exportTools, ToolError } from 'mcp-tool';

const shout = defineTool({
  name: '$name',
  description: 'Upper-case a text and add exclamation marks',
  input: {
    type: 'object',
    properties: {
      text: { type: 'string', description: 'The text to shout.' },
      marks: { type: 'integer', minimum: 0, maximum: 10, default: 1, description: 'How many exclamation marks to add.' },
    },
    required: ['text'],
  },
  output: {
    type: 'object',
    properties: { text: { type: 'string', description: 'The text in upper case, with exclamation marks.' } },
    required: ['text'],
  },
  annotations: { readOnly: true, idempotent: true, openWorld: false },
  // \`text\` is a string and \`marks\` a number or undefined: typed from the input schema.
  run({ text, marks = 1 }, cx) {
    if (text.trim() === '') throw ToolError.invalidArguments('\`text\` is blank; give me something to shout');
    cx.log('info', 'shouting', { length: text.length, caller: cx.caller().user });
    return { text: text.toUpperCase() + '!'.repeat(marks) };
  },
});

// The WIT export componentize-js looks for: every tool of this component.
export const tool = exportTools(shout);
TS

cat >"$dir/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "ES2022", "module": "ESNext",
    "moduleResolution": "Bundler", "lib": ["ES2023"], "types": [],
    "paths": { "mcp-tool": ["$sdk/src/index.ts"] }
  },
  "files": ["$sdk/wit/tool-component.d.ts", "$sdk/src/console.d.ts", "app.ts"]
}
JSON

cat >"$dir/build.sh" <<SH
#!/usr/bin/env bash
# The component ($name.wasm: type check, bundle, componentize-js), then \`mcp-sandbox tool check\`.
set -euo pipefail
cd "\$(dirname "\${BASH_SOURCE[0]}")"
sdk="\${MCP_TOOL_TYPESCRIPT_SDK:-$sdk}"
"\$sdk/build.sh" app.ts $name.wasm
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
echo "new.sh: wrote $dir/app.ts, $dir/tsconfig.json and $dir/build.sh; building" >&2
"$dir/build.sh"
