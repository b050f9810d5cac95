// Federated tools (and a resource) through the gateway with the official MCP TypeScript SDK
// client.
// Usage: NODE_PATH=<node_modules> node fed_client_ts.mjs URL TOKEN CALLS READS
// CALLS is a JSON list of [tool, arguments], READS a JSON list of resource URIs. Lists every
// page of tools, then makes each call and read; prints one JSON object: the tool names, and for
// each call and read either what came back (the text items, isError) or the error the SDK
// threw (its code and message).
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

const [url, token, calls, reads] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "gateway-federation-ts", version: "0.1.0" });
await client.connect(transport);

const names = [];
let cursor;
do {
  const page = await client.listTools(cursor ? { cursor } : {});
  names.push(...page.tools.map((t) => t.name));
  cursor = page.nextCursor;
} while (cursor);

const failure = (e) => ({ error: { code: e.code ?? null, message: String(e.message) } });
const called = [];
for (const [name, args] of JSON.parse(calls)) {
  try {
    const r = await client.callTool({ name, arguments: args });
    called.push({ texts: r.content.filter((c) => c.type === "text").map((c) => c.text), isError: !!r.isError });
  } catch (e) {
    called.push(failure(e));
  }
}
const read = [];
for (const uri of JSON.parse(reads)) {
  try {
    const r = await client.readResource({ uri });
    read.push({ texts: r.contents.map((c) => c.text ?? null) });
  } catch (e) {
    read.push(failure(e));
  }
}
console.log(JSON.stringify({ names, called, read }));
await client.close();
