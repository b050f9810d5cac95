// Runs the server scenarios of the official MCP conformance suite that apply to a tools-only
// server (see docs/clients.md for the ones that do not and why) against the gateway.
// The suite cannot send an Authorization header, so a loopback forwarder in this process adds
// the bearer token (MCP_TOKEN) to every request and passes everything else through unchanged
// (Origin included, so the DNS-rebinding scenario still reaches the gateway's own check).
// Usage: NODE_PATH=<node_modules> MCP_TOKEN=... node conformance.mjs URL
// Prints one JSON line: {"<scenario>": "ok" | "<what failed>"}.
import http from "node:http";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);

export const SCENARIOS = ["server-initialize", "ping", "tools-list", "dns-rebinding-protection"];
const target = new URL(process.argv[2]);
const cli = require.resolve("@modelcontextprotocol/conformance/dist/index.js");

const forwarder = http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${process.env.MCP_TOKEN}` };
  // The suite's DNS-rebinding probe sets a foreign Host: pass it on, as a real rebinding would.
  const up = http.request(
    { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
    (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); },
  );
  up.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
  req.pipe(up);
});
// MATRIX_FORWARD_PORT: a port the gateway lists in `allowed_origins` (the DNS-rebinding
// scenario sends Origin http://127.0.0.1:<this port> and expects it accepted).
await new Promise((ok) => forwarder.listen(Number(process.env.MATRIX_FORWARD_PORT ?? 0), "127.0.0.1", ok));
const url = `http://127.0.0.1:${forwarder.address().port}${target.pathname}`;

function run(scenario) {
  return new Promise((ok) => {
    const p = spawn(process.execPath, [cli, "server", "--url", url, "--scenario", scenario], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { out += d; });
    p.on("close", (code) => ok(code === 0 ? "ok" : `exit ${code}: ${out.slice(-1500)}`));
  });
}

const results = {};
for (const s of SCENARIOS) results[s] = await run(s);
forwarder.close();
console.log(JSON.stringify(results));
process.exit(0);
