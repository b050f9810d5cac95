// One client-matrix run with the official MCP TypeScript SDK over Streamable HTTP.
// Usage: NODE_PATH=<node_modules> node ts_client.mjs v1|v2|mcp-remote URL MODE
//   mcp-remote: the v1 client talks over stdio to `mcp-remote URL --header ...` (its path in
//   MCP_REMOTE_BIN), which forwards to the gateway, as desktop clients run it.
//   MODE: default (the SDK's own default), auto, legacy-<version> (initialize offering only that
//   version) or pin-<version> (v2: modern era pinned to that version).
// The bearer token comes from the environment (MCP_TOKEN), never the command line.
// Prints one JSON line: the negotiated protocol, the tool names, and what echo, a failing
// program, a schema violation and execute_code returned; warnings the SDK printed are counted.
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);

const [sdk, url, mode] = process.argv.slice(2);
const token = process.env.MCP_TOKEN;
const warnings = [];
const warn = console.warn;
console.warn = (...a) => { warnings.push(a.join(" ")); warn(...a); };

let Client, Transport;
if (sdk === "v1" || sdk === "mcp-remote") {
  ({ Client } = require("@modelcontextprotocol/sdk/client/index.js"));
  ({ StreamableHTTPClientTransport: Transport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js"));
} else {
  ({ Client, StreamableHTTPClientTransport: Transport } = await import(require.resolve("@modelcontextprotocol/client")));
}

const options = {};
if (mode === "auto") options.versionNegotiation = { mode: "auto" };
else if (mode.startsWith("pin-")) options.versionNegotiation = { mode: { pin: mode.slice(4) } };
else if (mode.startsWith("legacy-")) {
  options.supportedProtocolVersions = [mode.slice(7)];
  options.protocolVersion = mode.slice(7);
  if (sdk === "v2") options.versionNegotiation = { mode: "legacy" };
}

const out = { sdk, mode };
let transport;
if (sdk === "mcp-remote") {
  const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
  // The token reaches mcp-remote through its environment, as in a desktop client's config.
  transport = new StdioClientTransport({
    command: process.execPath,
    args: [process.env.MCP_REMOTE_BIN, url, "--header", "Authorization:${AUTH_HEADER}", "--transport", "http-only"],
    env: { ...process.env, AUTH_HEADER: `Bearer ${token}` },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d) => { stderr = (stderr + d).slice(-3000); });
  process.on("exit", () => { if (out.error) process.stderr.write(stderr); });
} else {
  transport = new Transport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
}
const client = new Client({ name: `matrix-ts-${sdk}`, version: "0.1.0" }, options);
try {
  await client.connect(transport);
  out.protocol = transport.protocolVersion ?? client.getNegotiatedProtocolVersion?.() ?? null;
  out.server = client.getServerVersion()?.name ?? null;
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  out.tools = tools.sort();
  const summary = (r) => ({
    is_error: Boolean(r.isError),
    text: (r.content ?? []).map((c) => c.text ?? "").join("\n"),
    structured: r.structuredContent ?? null,
  });
  const call = async (name, args) => {
    try {
      return summary(await client.callTool({ name, arguments: args }));
    } catch (e) {
      return { raised: String(e?.message ?? e), code: e?.code ?? null };
    }
  };
  out.echo = await call("echo", { text: "from ts" });
  out.fail = await call("execute_code", { language: "python", code: "print('before')\nraise ValueError('boom')" });
  out.bad_args = await call("echo", { text: 5 });
  out.exec = await call("execute_code", { language: "python", code: "print('hi')\n6 * 7" });
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  out.warnings = warnings.length;
  out.warning_sample = warnings.slice(0, 3);
  try { await client.close(); } catch {}
}
console.log(JSON.stringify(out));
