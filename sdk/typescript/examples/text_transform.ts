// Text utilities in one TypeScript component: `ts_text_transform {text, operation}` and
// `ts_text_stats {text}`. The same behaviour as the Rust example (sdk/examples/text_transform.rs).
//
// Build: sdk/typescript/build.sh sdk/typescript/examples/text_transform.ts text_transform.wasm
import { defineTool, exportTools } from 'mcp-tool';

const count = { type: 'integer', minimum: 0 } as const;

export const transform = defineTool({
  name: 'ts_text_transform',
  title: 'Transform text',
  description: 'Transform text: upper, lower, reverse, title case, word count or URL slug',
  input: {
    type: 'object',
    properties: {
      text: { type: 'string', description: 'The text to transform.' },
      operation: {
        type: 'string',
        enum: ['upper', 'lower', 'reverse', 'title', 'word_count', 'slug'],
        description:
          'The transformation: `upper` or `lower` case, `reverse` the characters, `title` case ' +
          '(capitalise each word), `word_count` (words separated by whitespace) or `slug` ' +
          '(lower-case ASCII letters and digits joined by `-`).',
      },
    },
    required: ['text', 'operation'],
  },
  output: {
    type: 'object',
    description: 'The transformed text; `word_count` gives the count as text.',
    properties: { result: { type: 'string', description: 'The result of the operation.' } },
    required: ['result'],
  },
  annotations: { readOnly: true, idempotent: true, openWorld: false },
  run({ text, operation }) {
    switch (operation) {
      case 'upper':
        return { result: text.toUpperCase() };
      case 'lower':
        return { result: text.toLowerCase() };
      case 'reverse':
        return { result: [...text].reverse().join('') };
      case 'title':
        return { result: titleCase(text) };
      case 'word_count':
        return { result: String(words(text)) };
      case 'slug':
        return { result: slug(text) };
    }
  },
});

export const stats = defineTool({
  name: 'ts_text_stats',
  description: 'Count the characters, words, lines and bytes of a text',
  input: {
    type: 'object',
    properties: { text: { type: 'string', description: 'The text to measure.' } },
    required: ['text'],
  },
  output: {
    type: 'object',
    description: 'Counts over the text.',
    properties: {
      characters: { ...count, description: 'Unicode scalar values.' },
      words: { ...count, description: 'Runs of non-whitespace.' },
      lines: { ...count, description: 'Lines, counting a last line without a newline.' },
      bytes: { ...count, description: 'Bytes of UTF-8.' },
    },
    required: ['characters', 'words', 'lines', 'bytes'],
  },
  annotations: { readOnly: true, idempotent: true, openWorld: false },
  run: ({ text }) => ({
    characters: [...text].length,
    words: words(text),
    lines: (text.match(/\n/g)?.length ?? 0) + (text !== '' && !text.endsWith('\n') ? 1 : 0),
    bytes: utf8Length(text),
  }),
});

const WHITESPACE = /\s/u;

function words(text: string): number {
  return text.split(/\s+/u).filter((w) => w !== '').length;
}

function titleCase(text: string): string {
  let out = '';
  let atWordStart = true;
  for (const c of text) {
    if (WHITESPACE.test(c)) {
      atWordStart = true;
      out += c;
    } else if (atWordStart) {
      atWordStart = false;
      out += c.toUpperCase();
    } else {
      out += c.toLowerCase();
    }
  }
  return out;
}

function slug(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p !== '')
    .map((p) => p.toLowerCase())
    .join('-');
}

function utf8Length(text: string): number {
  let n = 0;
  for (const c of text) {
    const cp = c.codePointAt(0) ?? 0;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

export const tool = exportTools(transform, stats);
