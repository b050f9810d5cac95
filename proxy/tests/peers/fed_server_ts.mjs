// An upstream MCP server for the federation tests, on the official TypeScript SDK
// (@modelcontextprotocol/sdk v1, McpServer + StreamableHTTPServerTransport) over node:http.
// Env: PORT (required), STATELESS=1 (a new server and transport per request, no sessions).
// Serves http://127.0.0.1:$PORT/mcp. Run with NODE_PATH=<.peers/node/node_modules>.
import http from "node:http";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
// NODE_PATH is not used by ES module imports: resolve the SDK from it with require.
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { McpServer } = require("@modelcontextprotocol/sdk/server/mcp.js");
const { StreamableHTTPServerTransport } = require("@modelcontextprotocol/sdk/server/streamableHttp.js");
const { z } = require("zod");

const PIXEL =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

function build() {
  const server = new McpServer(
    { name: "fed-upstream-ts", version: "1.0.0" },
    { capabilities: { logging: {} } },
  );
  server.registerTool(
    "echo",
    { description: "Echo text back.", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  server.registerTool(
    "pixel",
    { description: "Return a one-pixel PNG image." },
    async () => ({ content: [{ type: "image", data: PIXEL, mimeType: "image/png" }] }),
  );
  server.registerTool(
    "weather",
    {
      description: "Structured weather for a city.",
      inputSchema: { city: z.string() },
      outputSchema: { city: z.string(), celsius: z.number() },
    },
    async ({ city }) => {
      const out = { city, celsius: 21.5 };
      return {
        content: [{ type: "text", text: JSON.stringify(out) }],
        structuredContent: out,
        _meta: { "fed.test/served-by": "ts" },
      };
    },
  );
  server.registerTool(
    "fail",
    { description: "Always fails with the message.", inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: "text", text: message }], isError: true }),
  );
  server.registerTool(
    "slow",
    { description: "Logs (and reports progress) for each step, then answers.", inputSchema: { steps: z.number() } },
    async ({ steps }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 0; i < steps; i++) {
        await extra.sendNotification({
          method: "notifications/message",
          params: { level: "info", data: `step ${i + 1} of ${steps}` },
        });
        if (token !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: i + 1, total: steps },
          });
        }
      }
      return { content: [{ type: "text", text: `done after ${steps} steps` }] };
    },
  );
  // Newer result features (2025-06-18): a resource link and structured content without any
  // text item, for the protocol translation test.
  server.registerTool(
    "report",
    {
      title: "Quarterly report",
      description: "A resource link and structured content, no text.",
      inputSchema: { quarter: z.string() },
      outputSchema: { quarter: z.string(), rows: z.number() },
    },
    async ({ quarter }) => ({
      content: [
        {
          type: "resource_link",
          uri: `file:///reports/${quarter}.csv`,
          name: `${quarter}.csv`,
          mimeType: "text/csv",
          description: "The report's rows.",
        },
      ],
      structuredContent: { quarter, rows: 3 },
    }),
  );
  server.registerTool(
    "totals",
    {
      description: "Structured content only.",
      outputSchema: { total: z.number() },
    },
    async () => ({ content: [], structuredContent: { total: 42 } }),
  );
  return server;
}

const stateless = process.env.STATELESS === "1";
const sessions = new Map();

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

http
  .createServer(async (req, res) => {
    try {
      if (!req.url.startsWith("/mcp")) {
        res.writeHead(404).end();
        return;
      }
      const body = req.method === "POST" ? await readBody(req) : undefined;
      if (stateless) {
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        const server = build();
        res.on("close", () => {
          transport.close();
          server.close();
        });
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
        return;
      }
      const id = req.headers["mcp-session-id"];
      let transport = id ? sessions.get(id) : undefined;
      if (!transport) {
        if (id || body?.method !== "initialize") {
          res.writeHead(id ? 404 : 400, { "content-type": "application/json" });
          res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32000, message: "no such session" } }));
          return;
        }
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (sid) => sessions.set(sid, transport),
        });
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await build().connect(transport);
      }
      await transport.handleRequest(req, res, body);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    }
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
