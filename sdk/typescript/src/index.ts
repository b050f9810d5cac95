/**
 * mcp-tool: write MCP tools in TypeScript (or JavaScript) and build them into WebAssembly
 * components that the gateway's sandbox runs: world `tool-component` of sdk/wit/mcp-tool.wit,
 * built with componentize-js (SpiderMonkey), the same toolchain as `execute_javascript`.
 *
 *     import { defineTool, exportTools } from 'mcp-tool';
 *
 *     const echo = defineTool({
 *       name: 'echo',
 *       description: 'Echo text back, with its length in characters',
 *       input: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
 *       output: { type: 'object', properties: { text: { type: 'string' }, length: { type: 'integer' } },
 *                 required: ['text', 'length'] },
 *       annotations: { readOnly: true, idempotent: true, openWorld: false },
 *       run: ({ text }) => ({ text, length: [...text].length }),  // typed from the schemas
 *     });
 *
 *     export const tool = exportTools(echo);   // the WIT export componentize-js looks for
 *
 * Schemas are JSON Schema literals (2020-12); `FromSchema` types the arguments and the result
 * from them. The host validates the arguments before `run` and the result after it.
 */
/// <reference path="../wit/tool-component.d.ts" />
import * as host from 'mcp:gateway/host@0.1.0';
import type { ToolDescriptor } from 'mcp:gateway/types@0.1.0';

/** A JSON Schema object, as written in a tool's source. */
export type JsonSchema = { readonly [keyword: string]: unknown };

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<P, R> = Simplify<
  { -readonly [K in keyof P & R]: FromSchema<P[K]> } & {
    -readonly [K in Exclude<keyof P, R>]?: FromSchema<P[K]>;
  }
>;

/** The TypeScript type of the values a JSON Schema literal accepts (the common keywords). */
export type FromSchema<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly const: infer C }
    ? C
    : S extends { readonly anyOf: readonly (infer B)[] }
      ? FromSchema<B>
      : S extends { readonly type: 'string' }
        ? string
        : S extends { readonly type: 'integer' | 'number' }
          ? number
          : S extends { readonly type: 'boolean' }
            ? boolean
            : S extends { readonly type: 'null' }
              ? null
              : S extends { readonly type: 'array'; readonly items: infer I }
                ? FromSchema<I>[]
                : S extends { readonly type: 'array' }
                  ? unknown[]
                  : S extends { readonly type: 'object'; readonly properties: infer P }
                    ? ObjectOf<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
                    : S extends { readonly type: 'object' }
                      ? Record<string, unknown>
                      : unknown;

/** MCP tool annotations; a hint left out is not sent and MCP's default applies. */
export interface Annotations {
  /** `readOnlyHint`: the tool does not modify its environment. */
  readOnly?: boolean;
  /** `destructiveHint`: the tool may delete or overwrite data. */
  destructive?: boolean;
  /** `idempotentHint`: calling it again with the same arguments has no further effect. */
  idempotent?: boolean;
  /** `openWorldHint`: the tool reaches outside entities. */
  openWorld?: boolean;
}

/** A failure the tool reports itself; the agent sees it as a result with `isError: true`. */
export class ToolError extends Error {
  constructor(
    message: string,
    /** `invalid_arguments`: the arguments fit the schema but cannot be acted on;
     *  `failed`: the tool ran and could not do what was asked. */
    readonly kind: 'invalid_arguments' | 'failed' = 'failed',
  ) {
    super(message);
    this.name = 'ToolError';
  }
  static invalidArguments(message: string): ToolError {
    return new ToolError(message, 'invalid_arguments');
  }
  static failed(message: string): ToolError {
    return new ToolError(message, 'failed');
  }
}

/** The kinds of the contract's `call-error`, plus a result that is not JSON. */
export type CallErrorKind =
  | 'not_found'
  | 'forbidden'
  | 'invalid_arguments'
  | 'failed'
  | 'aborted'
  | 'limit_exceeded'
  | 'unexpected_result';

/** Why a call through `Context.callTool` did not return a result. Left uncaught, it fails the
 *  calling tool (like `?` on a `CallError` in Rust). */
export class CallError extends Error {
  constructor(
    message: string,
    readonly tool: string,
    readonly kind: CallErrorKind,
    /** For `aborted`: the sandbox error kind (`timeout`, `fuel_exhausted`, ...). */
    readonly abortKind?: string,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

export interface Caller {
  user: string;
  roles: string[];
  requestId: string;
}

export interface Usage {
  fuelConsumed: number;
  elapsedMs: number;
  nestedCalls: number;
}

export interface ToolSummary {
  name: string;
  component: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** What a `Context` needs from the host: the WIT imports, or a fake in tests. */
export interface Host {
  callTool(name: string, args: string): string;
  listTools(): ToolSummary[];
  log(level: LogLevel, message: string, fields: string): void;
  caller(): Caller;
  usage(): Usage;
  limitDeadline(ms: number): void;
  failDetail(detail: string): void;
}

const CALL_ERROR_KINDS: Record<string, CallErrorKind> = {
  'not-found': 'not_found',
  forbidden: 'forbidden',
  'invalid-arguments': 'invalid_arguments',
  failed: 'failed',
  aborted: 'aborted',
  'limit-exceeded': 'limit_exceeded',
};

/** The host imports of the contract. */
export const witHost: Host = {
  callTool(name, args) {
    try {
      return host.callTool(name, args);
    } catch (e) {
      const err = (e as { payload?: unknown })?.payload ?? e;
      if (err && typeof err === 'object' && 'tag' in err) {
        const { tag, val } = err as { tag: string; val: unknown };
        const kind = CALL_ERROR_KINDS[tag] ?? 'failed';
        if (tag === 'aborted') {
          const r = val as { kind: string; message: string };
          throw new CallError(r.message, name, kind, r.kind);
        }
        throw new CallError(String(val), name, kind);
      }
      throw e;
    }
  },
  listTools() {
    return host.listTools().map((t) => ({
      name: t.name,
      component: t.component,
      description: t.description,
      inputSchema: JSON.parse(t.inputSchema),
      outputSchema: t.outputSchema === undefined ? undefined : JSON.parse(t.outputSchema),
    }));
  },
  log(level, message, fields) {
    host.log(level, message, fields);
  },
  caller() {
    const c = host.caller();
    return { user: c.user, roles: [...c.roles], requestId: c.requestId };
  },
  usage() {
    const u = host.usage();
    return {
      fuelConsumed: Number(u.fuelConsumed),
      elapsedMs: Number(u.elapsedMs),
      nestedCalls: u.nestedCalls,
    };
  },
  limitDeadline(ms) {
    host.limitDeadline(BigInt(Math.max(0, Math.floor(ms))));
  },
  failDetail(detail) {
    host.failDetail(detail);
  },
};

/** The handle a tool's `run` gets on the host. */
export class Context {
  constructor(private readonly host: Host) {}

  /** Calls another tool as the same caller; returns its result as JSON data. Runs under that
   *  tool's own limits, never past this call's deadline; throws `CallError`. */
  callTool<R = unknown>(name: string, args: object = {}): R {
    const text = this.host.callTool(name, JSON.stringify(args));
    try {
      return JSON.parse(text) as R;
    } catch (e) {
      throw new CallError(`the result is not JSON (${(e as Error).message})`, name, 'unexpected_result');
    }
  }

  /** The tools this caller may call through `callTool`. */
  listTools(): ToolSummary[] {
    return this.host.listTools();
  }

  /** A structured log line attributed to this tool and the caller's request. */
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.host.log(level, message, fields ? JSON.stringify(fields) : '');
  }

  /** Who this call runs for, as authenticated by the gateway. Never credentials. */
  caller(): Caller {
    return this.host.caller();
  }

  /** Resources used so far by this call. */
  usage(): Usage {
    return this.host.usage();
  }

  /** Brings this call's deadline forward to at most `ms` from now (never extends it). */
  limitDeadline(ms: number): void {
    this.host.limitDeadline(ms);
  }

  /** Structured detail (a JSON object) for the failure this call is about to throw. */
  failDetail(detail: Record<string, unknown>): void {
    this.host.failDetail(JSON.stringify(detail));
  }
}

/** A tool as declared by its author. */
export interface ToolSpec<I extends JsonSchema, O extends JsonSchema | undefined> {
  /** 1-64 characters of `a-z A-Z 0-9 _ -`, unique within the component. */
  name: string;
  /** Optional display name. */
  title?: string;
  /** What the tool does, written for the agent that will call it. */
  description: string;
  /** JSON Schema of the arguments: an object schema. */
  input: I;
  /** JSON Schema of the structured result (an object schema), or none for a text result. */
  output?: O;
  annotations?: Annotations;
  run(
    args: FromSchema<I>,
    cx: Context,
  ): (O extends JsonSchema ? FromSchema<O> : unknown) | Promise<O extends JsonSchema ? FromSchema<O> : unknown>;
}

/** A tool ready to export; see `defineTool`. */
export interface ToolDef {
  readonly descriptor: ToolDescriptor;
  run(args: unknown, cx: Context): unknown;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Declares a tool. Checks what can be checked when the component is built (componentize-js
 *  runs the module then): the name and that the schemas describe objects. */
export function defineTool<const I extends JsonSchema, const O extends JsonSchema | undefined = undefined>(
  spec: ToolSpec<I, O>,
): ToolDef {
  if (!NAME.test(spec.name))
    throw new Error(`invalid tool name ${JSON.stringify(spec.name)}: use 1-64 characters of a-z A-Z 0-9 _ -`);
  if (spec.input.type !== 'object')
    throw new Error(`tool ${spec.name}: the input schema must have "type": "object"`);
  if (spec.output !== undefined && spec.output.type !== 'object')
    throw new Error(`tool ${spec.name}: the output schema must have "type": "object" (leave it out for a text result)`);
  const a = spec.annotations ?? {};
  const hints: Record<string, boolean> = {};
  if (a.readOnly !== undefined) hints.readOnlyHint = a.readOnly;
  if (a.destructive !== undefined) hints.destructiveHint = a.destructive;
  if (a.idempotent !== undefined) hints.idempotentHint = a.idempotent;
  if (a.openWorld !== undefined) hints.openWorldHint = a.openWorld;
  return {
    descriptor: {
      name: spec.name,
      title: spec.title,
      description: spec.description,
      inputSchema: JSON.stringify(spec.input),
      outputSchema: spec.output === undefined ? undefined : JSON.stringify(spec.output),
      annotations: Object.keys(hints).length ? JSON.stringify(hints) : undefined,
    },
    run: (args, cx) => spec.run(args as FromSchema<I>, cx),
  };
}

/** The failure a call ends with, in the contract's terms. */
type WitToolError = { tag: 'invalid-arguments' | 'failed'; val: string };

/** Runs `name` from `tools` on `args` (JSON text) with `host`; returns the result as JSON text
 *  or throws the contract's `tool-error`. Exported for tests with a fake host. */
export async function callTool(tools: readonly ToolDef[], name: string, args: string, h: Host): Promise<string> {
  const def = tools.find((t) => t.descriptor.name === name);
  const fail = (tag: WitToolError['tag'], val: string): WitToolError => ({ tag, val });
  if (!def) {
    const known = tools.map((t) => t.descriptor.name).join(', ');
    throw fail('failed', `this component has no tool named \`${name}\`; it provides: ${known}`);
  }
  let parsed: unknown;
  try {
    parsed = args.trim() === '' ? {} : JSON.parse(args);
  } catch (e) {
    throw fail('invalid-arguments', `the arguments of \`${name}\` are not JSON: ${(e as Error).message}`);
  }
  const cx = new Context(h);
  let result: unknown;
  try {
    result = await def.run(parsed, cx);
  } catch (e) {
    if (e instanceof ToolError)
      throw fail(e.kind === 'invalid_arguments' ? 'invalid-arguments' : 'failed', e.message);
    if (e instanceof CallError) {
      const why = e.abortKind ? `${e.kind} (${e.abortKind})` : e.kind;
      throw fail('failed', `a nested tool call failed: calling \`${e.tool}\` failed (${why}): ${e.message}`);
    }
    // A bug in the tool: fail the call with the error, its stack as the failure's detail.
    const err = e instanceof Error ? e : new Error(String(e));
    try {
      h.failDetail(JSON.stringify({ error: `${err.name}: ${err.message}`, stack: err.stack ?? '', uncaught: true }));
    } catch (_) {
      // the detail is best effort
    }
    throw fail('failed', `\`${name}\` threw ${err.name}: ${err.message}`);
  }
  const text = JSON.stringify(result === undefined ? null : result);
  return text;
}

/** The object implementing the WIT `tool` export for these tools:
 *  `export const tool = exportTools(a, b)` in the module componentize-js builds. */
export function exportTools(...tools: ToolDef[]): {
  describe(): ToolDescriptor[];
  call(name: string, args: string): Promise<string>;
} {
  const seen = new Set<string>();
  for (const t of tools) {
    if (seen.has(t.descriptor.name)) throw new Error(`two tools are named ${t.descriptor.name}`);
    seen.add(t.descriptor.name);
  }
  const descriptors = tools.map((t) => t.descriptor);
  return {
    describe: () => descriptors,
    // componentize-js runs the job queue until the promise of an async export settles.
    call: (name, args) => callTool(tools, name, args, witHost),
  };
}
