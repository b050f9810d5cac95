/// <reference path="./interfaces/mcp-gateway-host.d.ts" />
/// <reference path="./interfaces/mcp-gateway-tool.d.ts" />
/// <reference path="./interfaces/mcp-gateway-types.d.ts" />
declare module 'mcp:gateway/tool-component@0.1.0' {
  export type * as McpGatewayHost010 from 'mcp:gateway/host@0.1.0'; // import mcp:gateway/host@0.1.0
  export type * as McpGatewayTypes010 from 'mcp:gateway/types@0.1.0'; // import mcp:gateway/types@0.1.0
  export * as tool from 'mcp:gateway/tool@0.1.0'; // export mcp:gateway/tool@0.1.0
}
