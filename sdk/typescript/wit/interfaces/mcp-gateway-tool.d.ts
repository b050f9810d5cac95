/// <reference path="./mcp-gateway-types.d.ts" />
declare module 'mcp:gateway/tool@0.1.0' {
  /**
   * The tools this component provides. Called once when the host loads the component.
   */
  export function describe(): Array<ToolDescriptor>;
  /**
   * Runs the tool `name` on `arguments` (a JSON object text that already matched the tool's
   * input schema). Returns the result as JSON text.
   */
  export function call(name: string, arguments: string): string;
  export type ToolDescriptor = import('mcp:gateway/types@0.1.0').ToolDescriptor;
  export type ToolError = import('mcp:gateway/types@0.1.0').ToolError;
}
