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

/// Follows an authorization URL as a user would in a browser: the provider's login form, its
/// consent form, then the redirect to the client's loopback callback (which completes the
/// client's code exchange). Cookies are kept per origin; redirects are followed by hand.
async function signIn(start) {
  const jar = new Map();
  const cookieHeader = () => [...jar.values()].join("; ");
  async function go(url, init = {}) {
    for (let i = 0; i < 20; i++) {
      const r = await fetch(url, { ...init, redirect: "manual", headers: { ...(init.headers ?? {}), cookie: cookieHeader() } });
      for (const c of r.headers.getSetCookie?.() ?? []) jar.set(c.split("=")[0], c.split(";")[0]);
      const loc = r.headers.get("location");
      if (r.status >= 300 && r.status < 400 && loc) {
        url = new URL(loc, url).toString();
        init = {};
        continue;
      }
      return { url, status: r.status, body: await r.text() };
    }
    throw new Error("too many redirects");
  }
  const user = process.env.SIGNIN_USER ?? "alice";
  let page = await go(start);
  for (const prompt of ["login", "consent"]) {
    const action = page.body.match(/<form[^>]*action="([^"]+)"/)?.[1];
    if (!action) {
      if (prompt === "consent") break; // no consent asked: already redirected
      throw new Error(`no ${prompt} form at ${page.url}: ${page.body.slice(0, 300)}`);
    }
    const form = new URLSearchParams({ prompt, login: user, password: "any" });
    page = await go(new URL(action, page.url).toString(), {
      method: "POST",
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
  }
  out.signin = { final_url: page.url.split("?")[0], status: page.status };
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
let stderr = "";
if (sdk === "mcp-remote") {
  const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
  // MODE default: the token reaches mcp-remote through its environment, as in a desktop
  // client's config. MODE oauth: no header; mcp-remote registers itself with the identity
  // provider the gateway names and prints the sign-in URL, which signIn() follows as a user
  // (login SIGNIN_USER, consent) up to mcp-remote's loopback callback.
  const header = mode === "oauth" ? [] : ["--header", "Authorization:${AUTH_HEADER}"];
  transport = new StdioClientTransport({
    command: process.execPath,
    args: [process.env.MCP_REMOTE_BIN, url, ...header, "--transport", "http-only"],
    env: { ...process.env, AUTH_HEADER: `Bearer ${token}` },
    stderr: "pipe",
  });
  let signingIn = null;
  transport.stderr?.on("data", (d) => {
    stderr = (stderr + d).slice(-6000);
    // Once its callback server listens: the URL is printed before that.
    const m = mode === "oauth" && !signingIn && /Waiting for authorization/.test(stderr) &&
      stderr.match(/(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/);
    if (m) signingIn = signIn(m[1]).catch((e) => { out.signin_error = String(e); });
  });
  process.on("exit", () => { if (out.error) process.stderr.write(stderr); });
} else {
  transport = new Transport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
}
const client = new Client({ name: `matrix-ts-${sdk}`, version: "0.1.0" }, options);
try {
  if (sdk === "mcp-remote" && mode === "oauth") {
    // mcp-remote signs in before it proxies; a request sent meanwhile would be lost, so the
    // client connects once the proxy says it is up (or fails after the deadline).
    await transport.start();
    const deadline = Date.now() + 45_000;
    while (!/Proxy established/.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`mcp-remote did not sign in: ${out.signin_error ?? ""}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    transport.start = async () => {};
  }
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
