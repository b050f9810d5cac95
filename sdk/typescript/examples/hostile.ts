// Hostile TypeScript tools for the sandbox's tests (in ts_tests.wasm, see sdk_tests.ts),
// never served by a tool set of policies/: each tool misbehaves in one way the sandbox must
// contain.
import { CallError, defineTool, exportTools, ToolError } from 'mcp-tool';

const none = { type: 'object', properties: {} } as const;

export const spin = defineTool({
  name: 'ts_spin',
  description: 'Loop forever (fuel or the deadline must stop it).',
  input: none,
  run() {
    let n = 0;
    for (;;) n++;
  },
});

export const memoryBomb = defineTool({
  name: 'ts_memory_bomb',
  description: 'Allocate until the memory cap stops it.',
  input: none,
  run() {
    const hoard: Uint8Array[] = [];
    for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
  },
});

export const stdoutFlood = defineTool({
  name: 'ts_stdout_flood',
  description: 'Print until the output cap stops it.',
  input: none,
  run() {
    const line = 'x'.repeat(1023);
    for (;;) console.log(line);
  },
});

export const hugeOutput = defineTool({
  name: 'ts_huge_output',
  description: 'Return a 1.1 MB result (more than the output cap, within the memory cap).',
  input: none,
  run: () => ({ chunks: Array.from({ length: 1100 }, () => 'y'.repeat(1000)) }),
});

// Outbound HTTP as the tests see it: fetch with the headers asked for, report the status, the
// body and the headers of the request as the tool itself can read them (the host injects the tool
// set's credential after the request has left the guest, so it must never show up here). A
// refused request (no grant, an origin outside the allow-list) rejects; the tool reports it as a
// failure with the reason.
export const fetchOut = defineTool({
  name: 'ts_fetch',
  description: 'Fetch a URL; report the status, the body and the request headers the tool can see.',
  input: {
    type: 'object',
    properties: { url: { type: 'string' }, headers: { type: 'object' } },
    required: ['url'],
  },
  async run({ url, headers }) {
    const request = new Request(url, { headers: (headers ?? {}) as Record<string, string> });
    const sent: Record<string, string> = {};
    request.headers.forEach((value, name) => (sent[name] = value));
    let response: Response;
    try {
      response = await fetch(request);
    } catch (e) {
      throw ToolError.failed(`fetch ${url} refused: ${e}`);
    }
    return { status: response.status, body: await response.text(), sent_headers: sent };
  },
});

export const escape = defineTool({
  name: 'ts_escape',
  description: 'Try what a tool set did not grant: the environment, files. Reports each attempt.',
  input: none,
  run() {
    const out: Record<string, string> = {};
    const g = globalThis as Record<string, unknown>;
    out.files = typeof g.require === 'function' || typeof g.Deno === 'object' ? 'ALLOWED: a file API' : 'denied: no file API';
    const proc = g.process as { env?: Record<string, string> } | undefined;
    out.env = proc?.env && Object.keys(proc.env).length ? `ALLOWED: ${JSON.stringify(proc.env)}` : 'denied: no environment';
    return out;
  },
});

export const raise = defineTool({
  name: 'ts_raise',
  description: 'Throw an error the tool does not handle.',
  input: none,
  run() {
    throw new RangeError('hostile typescript tool throws on purpose');
  },
});

export const call = defineTool({
  name: 'ts_call',
  description: 'Call another tool through the host as the same caller; report the result or the error.',
  input: {
    type: 'object',
    properties: { tool: { type: 'string' }, arguments: { type: 'object' } },
    required: ['tool', 'arguments'],
  },
  run({ tool, arguments: args }, cx) {
    cx.log('info', 'calling', { tool });
    const caller = cx.caller();
    const out: Record<string, unknown> = { caller: caller.user, roles: caller.roles };
    try {
      out.result = cx.callTool(tool, args);
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      out.error = e.abortKind
        ? { kind: e.kind, abort_kind: e.abortKind, message: e.message }
        : { kind: e.kind, message: e.message };
    }
    out.nested_calls = cx.usage().nestedCalls;
    return out;
  },
});

export const refuse = defineTool({
  name: 'ts_refuse',
  description: "Refuse with the SDK's error kinds.",
  input: {
    type: 'object',
    properties: { reason: { type: 'string', enum: ['arguments', 'failure'] } },
    required: ['reason'],
  },
  run({ reason }) {
    if (reason === 'arguments') throw ToolError.invalidArguments('refused on purpose: bad arguments');
    throw ToolError.failed('refused on purpose: failed');
  },
});

export const tool = exportTools(spin, memoryBomb, stdoutFlood, hugeOutput, fetchOut, escape, raise, call, refuse);
