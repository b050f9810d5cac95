// The `execute_javascript` tool component: componentize-js (SpiderMonkey) builds this module
// into `target/tools/javascript.wasm` for the world `tool-component` of sdk/wit/mcp-tool.wit,
// the same world as the Python `execute_code` component, so the sandbox runs it unchanged.
//
// Each call gets a fresh instance of the snapshot componentize-js took of this module. The
// program runs as the body of an async function: `await` works at top level, and the value of
// its last expression (awaited if it is a promise) is the result. Tools are reachable as
// `tools.call(name, args)` and `tools.<component>.<tool>(args)`; every call goes through the
// host's `call-tool`, which authorizes it with the caller's roles.

import {
  callTool,
  listTools,
  usage,
  limitDeadline,
  failDetail,
} from 'mcp:gateway/host@0.1.0';

const NAME = 'execute_javascript';
const MAX_OUTPUT_CHARS = 100000;
const MAX_REPORT_BYTES = 1000000;
const DEFAULT_TIMEOUT_S = 30;
const MAX_TIMEOUT_S = 120;

const DESCRIPTION =
  'Run a short JavaScript or TypeScript program (SpiderMonkey, ES2023) in the sandbox; the ' +
  'same as `execute_code` with that `language`. It may call the ' +
  "tools you are allowed to use: `await tools.call('search_logs', {service: 'api'})` or " +
  '`await tools.<component>.<tool>({...})`; `tools.list()` returns them with their input ' +
  'schemas. A failed tool call throws a `ToolError` (`.kind`: not_found, forbidden, ' +
  'invalid_arguments, failed, aborted, limit_exceeded). `console.log` output is returned in ' +
  '`output`; the value of the last expression (awaited if it is a promise) in `result`. Top-level ' +
  '`await` and `return` work. No network, no files, no environment, no `import` or `require`. ' +
  'Process data here and return only a summary.';

const INPUT_SCHEMA = {
  type: 'object',
  properties: {
    language: {
      type: 'string',
      enum: ['javascript', 'typescript'],
      default: 'javascript',
      description: "The program's language; TypeScript has its types stripped by the sandbox host.",
    },
    code: {
      type: 'string',
      description: 'The program: JavaScript or TypeScript run as the body of an async function.',
    },
    timeout_s: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: MAX_TIMEOUT_S,
      default: DEFAULT_TIMEOUT_S,
      description: `Wall-clock limit of the whole call in seconds (default ${DEFAULT_TIMEOUT_S}, at most ${MAX_TIMEOUT_S}).`,
    },
  },
  required: ['code'],
  additionalProperties: false,
};

const JSON_TYPES = ['object', 'array', 'string', 'number', 'boolean', 'null'];
const NULLABLE_STRING = { anyOf: [{ type: 'string' }, { type: 'null' }] };

// The same report as the Python `execute_code` (code/python/codemode/descriptor.py).
const OUTPUT_SCHEMA = {
  type: 'object',
  properties: {
    success: { type: 'boolean', description: 'Whether the program ran to its end.' },
    output: { type: 'string', description: 'What it printed (console.log and friends).' },
    result: {
      anyOf: JSON_TYPES.map((t) => ({ type: t })),
      description: "The last expression's value (awaited), or what the program returned.",
    },
    error: { ...NULLABLE_STRING, description: 'The exception, as Name: message.' },
    traceback: { ...NULLABLE_STRING, description: 'Where the exception arose.' },
    truncated: { type: 'boolean', description: 'Whether output was cut.' },
    duration_ms: { type: 'number', description: 'Time the program ran.' },
    fuel_used: { type: 'integer', description: 'Sandbox fuel the call used.' },
    tool_calls: { type: 'integer', description: 'Tool calls the program made.' },
  },
  required: [
    'success',
    'output',
    'result',
    'error',
    'traceback',
    'truncated',
    'duration_ms',
    'fuel_used',
    'tool_calls',
  ],
};

// A program may call tools that change things; the tool itself cannot tell.
const ANNOTATIONS = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: false,
};

// ---------------------------------------------------------------------------------------------
// Captured console output.

class Output {
  constructor() {
    this.parts = [];
    this.size = 0;
    this.truncated = false;
  }
  write(text) {
    if (this.truncated) return;
    const room = MAX_OUTPUT_CHARS - this.size;
    if (text.length > room) {
      text = text.slice(0, room);
      this.truncated = true;
    }
    this.parts.push(text);
    this.size += text.length;
  }
  text() {
    return this.parts.join('');
  }
}

function show(value, depth = 0) {
  if (typeof value === 'string') return value;
  return inspect(value, depth);
}

function inspect(value, depth) {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return depth > 0 ? JSON.stringify(value) : value;
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return `[Function: ${value.name || 'anonymous'}]`;
  }
  if (value instanceof Error) return value.stack ? `${value}\n${value.stack}` : String(value);
  if (depth > 4) return Array.isArray(value) ? '[Array]' : '[Object]';
  if (Array.isArray(value)) return `[ ${value.map((v) => inspect(v, depth + 1)).join(', ')} ]`;
  if (value instanceof Map)
    return `Map(${value.size}) { ${[...value].map(([k, v]) => `${inspect(k, depth + 1)} => ${inspect(v, depth + 1)}`).join(', ')} }`;
  if (value instanceof Set)
    return `Set(${value.size}) { ${[...value].map((v) => inspect(v, depth + 1)).join(', ')} }`;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Promise) return 'Promise { <pending> }';
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, v]) => `${k}: ${inspect(v, depth + 1)}`).join(', ')} }`;
}

function makeConsole(out) {
  const line = (...args) => out.write(args.map((a) => show(a)).join(' ') + '\n');
  return {
    log: line,
    info: line,
    debug: line,
    warn: line,
    error: line,
    trace: line,
    dir: (v) => out.write(inspect(v, 0) + '\n'),
    table: (v) => out.write(JSON.stringify(v, null, 1) + '\n'),
  };
}

// ---------------------------------------------------------------------------------------------
// Tools.

const ERROR_KINDS = {
  'not-found': 'not_found',
  forbidden: 'forbidden',
  'invalid-arguments': 'invalid_arguments',
  failed: 'failed',
  aborted: 'aborted',
  'limit-exceeded': 'limit_exceeded',
};

class ToolError extends Error {
  constructor(message, tool, kind, abortKind) {
    super(message);
    this.name = 'ToolError';
    this.tool = tool;
    this.kind = kind;
    if (abortKind !== undefined) this.abortKind = abortKind;
  }
}

function makeTools(counter) {
  let catalog = null;
  const summaries = () => {
    if (catalog === null) catalog = listTools();
    return catalog;
  };
  const callSync = (name, args) => {
    if (typeof name !== 'string') throw new TypeError('tools.call(name, args): name must be a string');
    if (args === undefined || args === null) args = {};
    if (typeof args !== 'object' || Array.isArray(args))
      throw new TypeError(`tools.call(${JSON.stringify(name)}, args): args must be an object`);
    counter.calls += 1;
    let text;
    try {
      text = callTool(name, JSON.stringify(args));
    } catch (e) {
      const err = e && e.payload !== undefined ? e.payload : e;
      if (err && typeof err === 'object' && 'tag' in err) {
        const kind = ERROR_KINDS[err.tag] || err.tag;
        if (err.tag === 'aborted')
          throw new ToolError(`${name}: ${err.val.kind}: ${err.val.message}`, name, kind, err.val.kind);
        throw new ToolError(`${name}: ${err.val}`, name, kind);
      }
      throw e;
    }
    return JSON.parse(text);
  };
  // Calls are synchronous in the host; a promise keeps `await` and `.then` natural.
  const call = (name, args) => {
    try {
      return Promise.resolve(callSync(name, args));
    } catch (e) {
      return Promise.reject(e);
    }
  };
  const list = () =>
    summaries().map((t) => ({
      name: t.name,
      component: t.component,
      description: t.description,
      input_schema: JSON.parse(t.inputSchema),
    }));
  const base = { call, callSync, list, ToolError };
  return new Proxy(base, {
    get(target, prop) {
      if (typeof prop !== 'string' || prop in target) return target[prop];
      const names = summaries()
        .filter((t) => t.component === prop)
        .map((t) => t.name);
      if (names.length === 0) return undefined;
      const component = {};
      for (const n of names) component[n] = (args) => call(n, args);
      return component;
    },
    has(target, prop) {
      return prop in target || summaries().some((t) => t.component === prop);
    },
    ownKeys(target) {
      return [...Reflect.ownKeys(target), ...new Set(summaries().map((t) => t.component))];
    },
    getOwnPropertyDescriptor(target, prop) {
      if (prop in target) return Reflect.getOwnPropertyDescriptor(target, prop);
      const value = this.get(target, prop);
      return value === undefined ? undefined : { value, enumerable: true, configurable: true };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Running a program.

const AsyncFunction = async function () {}.constructor;

// StarlingMonkey defines `fetch` even with its HTTP feature left out, where calling it traps the
// whole instance; the sandbox grants no network anyway, so programs do not get it.
delete globalThis.fetch;
const PARAMS = ['tools', 'console', 'ToolError'];

// The program as an async function body. The sandbox host prepares every program it routes here
// (sandbox/src/codelang.rs: parsed, module use refused, TypeScript stripped, the final expression
// statement turned into `return (<expression>)`), so a prepared one runs as it is.
function compile(code, prepared) {
  if (prepared) return new AsyncFunction(...PARAMS, code);
  return compileUnprepared(code);
}

// Without the host (the component called on its own): the last line (or what follows the last
// `;` on it) becomes `return (<expression>)` when that still compiles, else the program runs as
// written (and may `return` a value itself).
function compileUnprepared(code) {
  const lines = code.replace(/[\s;]+$/, '').split('\n');
  const head = lines.slice(0, -1).join('\n');
  const last = lines.length ? lines[lines.length - 1] : '';
  const candidates = [[head, last]];
  const semi = last.lastIndexOf(';');
  if (semi >= 0) candidates.push([`${head}\n${last.slice(0, semi + 1)}`, last.slice(semi + 1)]);
  for (const [before, expr] of candidates) {
    if (expr.trim() === '' || /^\s*(\/\/|return\b|throw\b)/.test(expr)) continue;
    try {
      return new AsyncFunction(...PARAMS, `${before}\nreturn (${expr}\n);`);
    } catch (_) {
      // not an expression
    }
  }
  return new AsyncFunction(...PARAMS, code);
}

function toJson(value) {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value, (_, v) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      return v;
    });
    return text === undefined ? inspect(value, 0) : JSON.parse(text);
  } catch (_) {
    return inspect(value, 0);
  }
}

function errorText(e) {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `Uncaught: ${inspect(e, 1)}`;
}

// The program's own frames: code made by the `Function` constructor shows in SpiderMonkey's
// stacks as `name@<file> line N > AsyncFunction:LINE:COLUMN`, LINE counting the two lines of
// the function's header. For TypeScript the host sends the TypeScript line of each line of the
// stripped program (`sourceLines`), and frames name that line (the column would be of the
// stripped program, so it is left out).
function stackText(e, sourceLines) {
  if (!(e instanceof Error) || typeof e.stack !== 'string') return null;
  const frames = [];
  for (const frame of e.stack.split('\n')) {
    const m = frame.match(/^(.*?)@.*> AsyncFunction:(\d+):(\d+)$/);
    if (!m) continue;
    const name = m[1] || '<program>';
    const line = Number(m[2]) - 2;
    if (sourceLines) frames.push(`${name}@program.ts:${sourceLines[line - 1] ?? line}`);
    else frames.push(`${name}@program.js:${line}:${m[3]}`);
  }
  return frames.length ? frames.join('\n') : null;
}

async function run(code, prepared, sourceLines) {
  const started = Date.now();
  const fuelStart = usage().fuelConsumed;
  const out = new Output();
  const counter = { calls: 0 };
  const report = (success, result, error, traceback) => ({
    success,
    output: out.text(),
    truncated: out.truncated,
    result: success ? toJson(result) : null,
    error,
    traceback,
    duration_ms: Date.now() - started,
    fuel_used: Number(usage().fuelConsumed - fuelStart),
    tool_calls: counter.calls,
  });
  let fn;
  try {
    fn = compile(code, prepared);
  } catch (e) {
    return report(false, null, errorText(e), null);
  }
  const tools = makeTools(counter);
  try {
    const value = await fn(tools, makeConsole(out), ToolError);
    return report(true, value, null, null);
  } catch (e) {
    return report(false, null, errorText(e), stackText(e, sourceLines));
  }
}

function render(r) {
  let text = JSON.stringify(r);
  if (text.length > MAX_REPORT_BYTES) {
    r.result = null;
    r.success = false;
    r.error = 'Error: the result is larger than 1 MB; return a summary instead';
    text = JSON.stringify(r);
  }
  return text;
}

export const tool = {
  describe() {
    return [
      {
        name: NAME,
        title: 'Execute JavaScript',
        description: DESCRIPTION,
        inputSchema: JSON.stringify(INPUT_SCHEMA),
        outputSchema: JSON.stringify(OUTPUT_SCHEMA),
        annotations: JSON.stringify(ANNOTATIONS),
      },
    ];
  },
  // componentize-js runs the job queue until the promise of an async export settles; every
  // tool call is synchronous in the host, so a program settles once its jobs have run.
  async call(name, args) {
    if (name !== NAME)
      throw { tag: 'invalid-arguments', val: `this component provides only ${NAME}, not ${name}` };
    let request;
    try {
      request = JSON.parse(args);
    } catch (e) {
      throw { tag: 'invalid-arguments', val: `arguments are not JSON: ${e.message}` };
    }
    if (typeof request.code !== 'string') throw { tag: 'invalid-arguments', val: '`code` must be a string' };
    const prepared = request.prepared === true;
    if (request.language === 'typescript' && !prepared)
      throw {
        tag: 'invalid-arguments',
        val: 'TypeScript is stripped of its types by the sandbox host; call this tool through the sandbox',
      };
    if (request.language !== undefined && !['javascript', 'typescript'].includes(request.language))
      throw { tag: 'invalid-arguments', val: '`language` must be "javascript" or "typescript"' };
    let timeout = request.timeout_s === undefined ? DEFAULT_TIMEOUT_S : request.timeout_s;
    if (typeof timeout !== 'number' || !(timeout > 0) || timeout > MAX_TIMEOUT_S)
      throw { tag: 'invalid-arguments', val: `timeout_s must be in (0, ${MAX_TIMEOUT_S}]` };
    limitDeadline(BigInt(Math.ceil(timeout * 1000)));
    const sourceLines =
      prepared && Array.isArray(request.source_lines) ? request.source_lines : null;
    const r = await run(request.code, prepared, sourceLines);
    const text = render(r);
    if (r.success) return text;
    failDetail(text);
    throw { tag: 'failed', val: r.error };
  },
};
