// Generates the TypeScript declarations of the WIT world `tool-component` (sdk/wit/mcp-tool.wit)
// into sdk/typescript/wit/, with jco's type generator (the jco that componentize-js brings).
// The WIT is passed as source text: jco's own `types` command cannot open paths on this node.
//
// Usage: node sdk/typescript/gen-types.mjs [--check]
//   --check   exit 1 when the committed declarations differ from freshly generated ones.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const toolchain = process.env.COMPONENTIZE_JS_DIR || join(repo, '.peers', 'componentize-js');
const vendor = join(toolchain, 'node_modules/@bytecodealliance/jco-transpile/vendor/js-component-bindgen-component.js');
const { $init, generateTypes } = await import(pathToFileURL(vendor).href);
await $init;
const source = readFileSync(join(repo, 'sdk/wit/mcp-tool.wit'), 'utf8');
const files = generateTypes('tool-component', {
  wit: { tag: 'source', val: source },
  world: 'tool-component',
  tlaCompat: false,
  instantiation: undefined,
  features: { tag: 'list', val: [] },
  guest: true,
});
const out = join(here, 'wit');
let stale = [];
for (const [name, bytes] of files) {
  const path = join(out, name);
  const text = Buffer.from(bytes).toString('utf8');
  if (process.argv.includes('--check')) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.push(name);
    continue;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`wrote ${join('sdk/typescript/wit', name)}`);
}
if (stale.length) {
  console.error(`sdk/typescript/wit is out of date with sdk/wit/mcp-tool.wit (${stale.join(', ')}); run: node sdk/typescript/gen-types.mjs`);
  process.exit(1);
}
