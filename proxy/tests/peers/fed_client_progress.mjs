// A long federated call through the gateway with the official MCP TypeScript SDK client,
// receiving its progress.
// Usage: NODE_PATH=<node_modules> node fed_client_progress.mjs URL TOKEN TOOL STEPS
// Calls TOOL with {steps: STEPS} and an onprogress callback; prints one JSON object: the
// progress events in the order received ([progress, total, message]) and the result's text.
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url, token, tool, steps] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gateway-progress", version: "0.1.0" });
await client.connect(transport);
const events = [];
const r = await client.callTool({ name: tool, arguments: { steps: Number(steps) } }, undefined, {
  onprogress: (p) => events.push([p.progress, p.total ?? null, p.message ?? null]),
});
console.log(JSON.stringify({ events, text: r.content[0].text }));
await client.close();
