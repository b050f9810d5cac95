// The smallest useful tool, in TypeScript: `ts_echo {text}` returns the text and its length in
// characters. The same behaviour as the Rust example (sdk/examples/echo.rs).
//
// Build: sdk/typescript/build.sh sdk/typescript/examples/echo.ts echo.wasm
import { defineTool, exportTools } from 'mcp-tool';

export const echo = defineTool({
  name: 'ts_echo',
  description: 'Echo text back, with its length in characters',
  input: {
    type: 'object',
    properties: { text: { type: 'string', description: 'Text to send back.' } },
    required: ['text'],
  },
  output: {
    type: 'object',
    description: 'The text, unchanged, and its length.',
    properties: {
      text: { type: 'string', description: 'The text that was sent.' },
      length: { type: 'integer', minimum: 0, description: 'Its length in Unicode scalar values.' },
    },
    required: ['text', 'length'],
  },
  annotations: { readOnly: true, idempotent: true, openWorld: false },
  // `text` is a string and the result must be {text: string, length: number}: both typed from
  // the schemas above.
  run: ({ text }) => ({ text, length: [...text].length }),
});

export const tool = exportTools(echo);
