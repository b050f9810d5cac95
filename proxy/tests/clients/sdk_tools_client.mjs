// Calls tools through the gateway with the official MCP TypeScript SDK over Streamable HTTP.
// Usage: NODE_PATH=<node_modules> node sdk_tools_client.mjs URL TOKEN CALLS
// CALLS is a JSON object {label: {name, arguments}}. Prints one JSON object: the names of every
// tool listed (all pages, sorted) and, per label, the call's `is_error`, `structured` content
// and `text` contents, or `raised` and `message` when the SDK threw (a JSON-RPC error).
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url, token, callsJson] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gateway-sdk-tools", version: "0.1.0" });
await client.connect(transport);
const tools = [];
for (let cursor; ;) {
  const page = await client.listTools(cursor ? { cursor } : undefined);
  tools.push(...page.tools.map((t) => t.name));
  if (!(cursor = page.nextCursor)) break;
}
const calls = {};
for (const [label, call] of Object.entries(JSON.parse(callsJson))) {
  try {
    const r = await client.callTool({ name: call.name, arguments: call.arguments ?? {} });
    calls[label] = {
      is_error: r.isError ?? false,
      structured: r.structuredContent ?? null,
      text: r.content.filter((c) => c.type === "text").map((c) => c.text),
    };
  } catch (e) {
    calls[label] = { raised: e.constructor.name, message: String(e.message ?? e) };
  }
}
console.log(JSON.stringify({ tools: tools.sort(), calls }));
await client.close();
