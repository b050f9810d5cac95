// Bundles a tool module and the `mcp-tool` SDK into one ES module for componentize-js, with
// rolldown (TypeScript types are stripped; the contract's imports `mcp:gateway/*` stay imports).
//
// Usage: node sdk/typescript/bundle.mjs app.ts out.js      (sdk/typescript/build.sh calls it)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const toolchain = process.env.COMPONENTIZE_JS_DIR || join(here, '..', '..', '.peers', 'componentize-js');
const { rolldown } = await import(pathToFileURL(join(toolchain, 'node_modules/rolldown/dist/index.mjs')).href);

const [input, out] = process.argv.slice(2);
if (!input || !out) {
  console.error('usage: node bundle.mjs app.ts out.js');
  process.exit(2);
}
const bundle = await rolldown({
  input: resolve(input),
  external: [/^mcp:gateway\//],
  resolve: { alias: { 'mcp-tool': join(here, 'src', 'index.ts') } },
  platform: 'neutral',
  logLevel: 'warn',
});
await bundle.write({ file: resolve(out), format: 'esm', codeSplitting: false });
await bundle.close();
