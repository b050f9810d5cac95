/// <reference path="./mcp-gateway-types.d.ts" />
declare module 'mcp:gateway/host@0.1.0' {
  /**
   * Calls another tool by name as the same caller, under that tool's own limits and never
   * beyond the time left to this call. `arguments` and the result are JSON text.
   */
  export function callTool(name: string, arguments: string): string;
  /**
   * The tools the caller may call through `call-tool`.
   */
  export function listTools(): Array<ToolSummary>;
  /**
   * A structured log line, attributed to this tool and the caller's request.
   * `fields` is a JSON object text, or empty.
   */
  export function log(level: LogLevel, message: string, fields: string): void;
  /**
   * Who this call runs for.
   */
  export function caller(): CallerInfo;
  /**
   * Resources used so far by this call.
   */
  export function usage(): UsageInfo;
  /**
   * Brings this call's wall-clock deadline forward to at most `ms` milliseconds from now.
   * It can only shorten the deadline the host set, never extend it.
   */
  export function limitDeadline(ms: bigint): void;
  /**
   * Structured detail for the failure this call is about to return (`failed`), as a JSON
   * object text, e.g. `execute_code`'s output and traceback. The client receives it as the
   * error result's `structuredContent`. The last one set counts; it is ignored when the call
   * succeeds, and text that is not a JSON object (or is larger than the output cap) is
   * dropped.
   */
  export function failDetail(detail: string): void;
  export type CallError = import('mcp:gateway/types@0.1.0').CallError;
  export type LogLevel = import('mcp:gateway/types@0.1.0').LogLevel;
  export type ToolSummary = import('mcp:gateway/types@0.1.0').ToolSummary;
  export type CallerInfo = import('mcp:gateway/types@0.1.0').Caller;
  export type UsageInfo = import('mcp:gateway/types@0.1.0').Usage;
}
