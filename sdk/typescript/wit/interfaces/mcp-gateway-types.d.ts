declare module 'mcp:gateway/types@0.1.0' {
  /**
   * One tool a component provides, as it appears in MCP `tools/list`.
   */
  export interface ToolDescriptor {
    /**
     * Unique within the tool set: 1-64 characters of `a-z A-Z 0-9 _ -`.
     */
    name: string,
    /**
     * Optional display name.
     */
    title?: string,
    /**
     * What the tool does, written for the agent that will call it.
     */
    description: string,
    /**
     * JSON Schema of the arguments object, as JSON text.
     */
    inputSchema: string,
    /**
     * JSON Schema of the structured result, as JSON text.
     */
    outputSchema?: string,
    /**
     * MCP tool annotations (`readOnlyHint`, `destructiveHint`, ...) as a JSON object text.
     */
    annotations?: string,
  }
  /**
   * A failure the tool itself reports. The agent sees it as a result with `isError: true`.
   */
  export type ToolError = ToolErrorInvalidArguments | ToolErrorFailed;
  /**
   * The arguments fit the schema but cannot be acted on (a bad path, an unknown id).
   */
  export interface ToolErrorInvalidArguments {
    tag: 'invalid-arguments',
    val: string,
  }
  /**
   * The tool ran and could not do what was asked.
   */
  export interface ToolErrorFailed {
    tag: 'failed',
    val: string,
  }
  export interface AbortReason {
    kind: string,
    message: string,
  }
  /**
   * Why a call made through `host.call-tool` did not return a result.
   */
  export type CallError = CallErrorNotFound | CallErrorForbidden | CallErrorInvalidArguments | CallErrorFailed | CallErrorAborted | CallErrorLimitExceeded;
  /**
   * No tool by that name exists in this sandbox.
   */
  export interface CallErrorNotFound {
    tag: 'not-found',
    val: string,
  }
  /**
   * The caller's roles do not allow that tool.
   */
  export interface CallErrorForbidden {
    tag: 'forbidden',
    val: string,
  }
  /**
   * The arguments are not valid for that tool (schema or the tool's own check).
   */
  export interface CallErrorInvalidArguments {
    tag: 'invalid-arguments',
    val: string,
  }
  /**
   * The tool ran and reported a failure.
   */
  export interface CallErrorFailed {
    tag: 'failed',
    val: string,
  }
  /**
   * The tool was stopped by the host: `kind` is the sandbox error kind
   * (`timeout`, `fuel_exhausted`, `memory_limit`, `tool_trap`, ...).
   */
  export interface CallErrorAborted {
    tag: 'aborted',
    val: AbortReason,
  }
  /**
   * The nested-call budget of the outer call is spent (count or depth).
   */
  export interface CallErrorLimitExceeded {
    tag: 'limit-exceeded',
    val: string,
  }
  /**
   * # Variants
   * 
   * ## `"trace"`
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * A tool the caller may call, for discovery from inside the sandbox.
   */
  export interface ToolSummary {
    name: string,
    /**
     * The component (module) that provides it, e.g. `log_store`.
     */
    component: string,
    description: string,
    inputSchema: string,
    outputSchema?: string,
  }
  /**
   * Who the current call runs for, as authenticated by the gateway.
   */
  export interface Caller {
    user: string,
    roles: Array<string>,
    requestId: string,
  }
  /**
   * Resources the current call has used so far.
   */
  export interface Usage {
    fuelConsumed: bigint,
    elapsedMs: bigint,
    nestedCalls: number,
  }
}
