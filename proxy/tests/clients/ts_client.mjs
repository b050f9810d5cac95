// Drives the gateway with the official MCP TypeScript SDK over Streamable HTTP.
// Usage: NODE_PATH=<node_modules> node ts_client.mjs URL TOKEN
// Prints one JSON object: protocol version, server name, tool names, and the echo result.
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url, token] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gateway-e2e", version: "0.1.0" });
await client.connect(transport);
const tools = [];
for (let cursor; ;) { // every page: the gateway pages tools/list
  const page = await client.listTools(cursor ? { cursor } : undefined);
  tools.push(...page.tools);
  if (!(cursor = page.nextCursor)) break;
}
const echo = await client.callTool({ name: "echo", arguments: { text: "from typescript" } });
console.log(JSON.stringify({
  protocol: transport.protocolVersion,
  server: client.getServerVersion()?.name,
  session: Boolean(transport.sessionId),
  tools: tools.map((t) => t.name).sort(),
  echo: echo.content.map((c) => c.text),
  echo_structured: echo.structuredContent ?? null,
}));
await client.close();
