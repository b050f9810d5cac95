"""The performance report: every scenario side by side in one run, on loopback, written to
benches/RESULTS.md (with the raw figures in benches/results.json) and plotted in
benches/results.svg. Run through benches/report.sh, which builds the release binaries first."""

import argparse
import http.server
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness as h
import plot
from execute_code_scaling import WithWorkers

BENCHES = h.REPO / "benches"
SHARED_PEERS = h.REPO.parent / "shared" / "peers"
PEERS = h.REPO / ".peers"
SERVICES = ["api-gateway", "auth-service", "notification-service", "payment-service", "user-service"]
MIB = 1 << 20
# Page size of the 1,000-tool gateway: about as many tools as the 27-tool gateway lists on its
# one page, so the two tools/list scenarios answer pages of about the same bytes and their
# ratio shows what the catalog's size costs (a page of 100 tools is 3x the bytes: a measure of
# the client and the socket, not of the catalog).
PAGE_1000 = 28

# The multi-tool task of the code-mode comparison: for each of five services, the number of
# errors and the three most frequent error messages (ids and numbers normalised).
# One API key stands in for many callers here, so its per-caller budgets are the gateway's
# whole ones; and the 1 MiB echo needs 4 MiB arguments.
BENCH_LIMITS = ("limits: {max_arguments: 4MiB, max_in_flight_per_caller: 1024, "
                "max_buffered: 256MiB, max_buffered_per_caller: 256MiB}\n")

CODE_MODE_PROGRAM = """\
import re
from collections import Counter
from tools import log_store
lines = []
for service in %r:
    found = log_store.search_logs(service=service, log_level='ERROR', limit=1000)
    top = Counter(re.sub(r'\S*[0-9]\S*', '#', e['message']) for e in found['entries']).most_common(3)
    lines.append(f"{service}: {found['total_matched']} errors; " + '; '.join(f'{m} (x{n})' for m, n in top))
print('\\n'.join(lines))
""" % (SERVICES,)

NESTED_PROGRAM = """\
from tools import echo
print(sum(echo.echo(text=f'line {i}')['length'] for i in range(100)))
"""

# The same programs in JavaScript and TypeScript (execute_code's `language`), run by the
# sandbox's JavaScript engine (the `javascript` tool set, code/javascript).
JS_TRIVIAL = 'console.log("hello")'
TS_TRIVIAL = 'const s: string = "hello"\nconsole.log(s)'
JS_NESTED_PROGRAM = """\
let sum = 0
for (let i = 0; i < 100; i++) sum += (await tools.echo.echo({text: `line ${i}`})).length
console.log(sum)
"""

# The federated upstream: the official Python SDK (FastMCP) server of the federation tests,
# stateless with JSON answers, behind the gateway as server `up` (its echo is `up__echo`).
FED_SERVER = h.REPO / "proxy/tests/peers/fed_server.py"
FED_NAME = "up"

# The tool-author SDKs' echo components, served in a tool set of their own as in
# sdk/python/bench_echo.py.
SDK_TOOLSET = "name: sdk\ncomponents:\n  - file: py_examples.wasm\n  - file: ts_examples.wasm\n"


class OtlpSink:
    """An OTLP/HTTP receiver that accepts and counts trace exports (answers an empty
    ExportTraceServiceResponse) and keeps nothing."""

    def __init__(self):
        sink = self
        self.requests = 0
        self.bytes = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self.rfile.read(n)
                sink.requests += 1
                sink.bytes += n
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def examples_with_room(work):
    """The example tool set with 4 MiB argument and output caps, so a 1 MiB echo fits."""
    text = (h.REPO / "policies/toolsets/examples.yaml").read_text()
    text = text.replace("output: 1MiB", "output: 4MiB\n    arguments: 4MiB")
    path = Path(work) / "examples-4mib.yaml"
    path.write_text(text)
    return path


def build_synthetic():
    env = dict(os.environ, CARGO_PROFILE_RELEASE_DEBUG="false", CARGO_PROFILE_RELEASE_STRIP="debuginfo")
    env.pop("RUSTC_WORKSPACE_WRAPPER", None)
    subprocess.run(
        ["cargo", "build", "-q", "--release", "--target", "wasm32-wasip2",
         "--manifest-path", str(BENCHES / "synthetic-tools/Cargo.toml"),
         "--target-dir", str(h.REPO / "target/guests")],
        check=True, env=env,
    )
    return h.REPO / "target/guests/wasm32-wasip2/release"


def oidc_token(issuer):
    import base64
    import urllib.parse

    basic = base64.b64encode(b"mcp-user:user-secret").decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": "urn:mcp-gateway"}).encode()
    status, out = h.http("POST", f"{issuer}/token", body,
                         {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        sys.exit(f"report: the OIDC provider refused a token: {status} {out[:300]!r}")
    return json.loads(out)["access_token"]


def mcp_post(url, body, token):
    status, out = h.http("POST", url, body, {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream"}, timeout=120)
    try:
        answer = json.loads(out)
    except ValueError:
        answer = {}
    if status != 200 or "result" not in answer or answer["result"].get("isError"):
        sys.exit(f"report: {body.get('method')} failed: {status} {out[:500]!r}")
    return out


def code_mode_bytes(gw_url, key):
    """Bytes the model receives for the five-service error summary: one execute_code call
    versus the direct tool calls it replaces."""
    direct = [
        mcp_post(f"{gw_url}/mcp", h.call_body("search_logs", {"service": s, "log_level": "ERROR", "limit": 1000}), key)
        for s in SERVICES
    ]
    summaries = [
        mcp_post(f"{gw_url}/mcp", h.call_body("get_error_summary", {"service": s, "hours": 24 * 366}), key)
        for s in SERVICES
    ]
    code = mcp_post(f"{gw_url}/mcp", h.call_body("execute_code", {"language": "python", "code": CODE_MODE_PROGRAM}), key)
    return {
        "direct_search_logs": sum(len(b) for b in direct),
        "direct_error_summaries": sum(len(b) for b in summaries),
        "execute_code": len(code),
        "execute_code_answer": json.loads(code)["result"]["content"][0]["text"][:2000],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="release")
    parser.add_argument("--duration", type=float, default=float(os.environ.get("DURATION", "4")))
    parser.add_argument("--conns", default=os.environ.get("CONNS", "1,16,64"))
    parser.add_argument("--out", default=str(BENCHES))
    parser.add_argument("--only", default=os.environ.get("ONLY"),
                        help="quick check: run only the scenarios whose key matches this regular "
                             "expression (e.g. 'exec_js|fed_'), print them and write no report")
    parser.add_argument("--break", dest="broken", default="",
                        help="self-check of the response checks: these scenarios (comma-separated "
                             "keys) expect a text their answers lack, so the run must fail")
    args = parser.parse_args()
    conns = [int(c) for c in args.conns.split(",")]
    started = time.monotonic()
    out_dir = Path(args.out)

    modules_synth = build_synthetic()
    sink = OtlpSink()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        stack = h.Stack(work, args.profile)
        try:
            results, extra = run(stack, work, conns, args.duration, sink, modules_synth,
                                 only=args.only, broken=set(filter(None, args.broken.split(","))))
        except h.Failed as e:
            print(f"report: FAILED requests, no report written\n{e}", file=sys.stderr)
            return 1
        finally:
            stack.close()
            sink.close()
    extra["runtime_s"] = time.monotonic() - started
    if args.only:
        print(f"report: --only {args.only!r}: {len(results)} measurements in {extra['runtime_s']:.0f} s, "
              "no report written")
        return 0
    extra["duration_s"] = args.duration
    extra["conns"] = conns
    extra["profile"] = args.profile
    (out_dir / "results.json").write_text(json.dumps({"results": results, "extra": extra}, indent=1) + "\n")
    (out_dir / "RESULTS.md").write_text(render(results, extra))
    (out_dir / "results.svg").write_text(plot.svg(results, conns))
    print(f"report: wrote {out_dir / 'RESULTS.md'} and results.svg in {extra['runtime_s']:.0f} s")
    return 0


def run(stack, work, conns, duration, sink, modules_synth, only=None, broken=frozenset()):
    extra = {"cores": os.cpu_count(), "kernel": platform.release(),
             "loadavg_start": Path("/proc/loadavg").read_text().split()[0]}
    toolsets = ["examples", "code", "log-analysis"]
    manifests = {
        "examples": examples_with_room(work),
        "code": h.REPO / "policies/toolsets/code.yaml",
        "log-analysis": h.REPO / "policies/toolsets/log-analysis.yaml",
        # The engine execute_code runs JavaScript and TypeScript in; served by the sandbox but
        # not granted at the gateway, so the catalog stays the same.
        "javascript": h.REPO / "policies/toolsets/javascript.yaml",
    }
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    # Peers: the real OIDC provider, the official Python MCP SDK server.
    log("starting peers, sandboxes and gateways")
    oidc_port = h.free_port()
    oidc = stack.start("oidc", ["node", SHARED_PEERS / "oidc_server.mjs"], announce=False,
                       url=f"http://127.0.0.1:{oidc_port}",
                       env={"NODE_PATH": str(PEERS / "node/node_modules"), "PORT": str(oidc_port),
                            "KEY_FILE": str(work / "oidc-rsa.jwk.json")})
    h.wait_until("the OIDC provider", lambda: h.http("GET", f"{oidc.url}/.well-known/openid-configuration")[0] == 200, 30)
    py_port = h.free_port()
    pysdk = stack.start("python-sdk", [PEERS / "venv/bin/python", SHARED_PEERS / "upstream_server.py"],
                        announce=False, url=f"http://127.0.0.1:{py_port}",
                        env={"PORT": str(py_port), "STATELESS": "1", "JSON_RESPONSE": "1"})

    sb = stack.sandbox("sandbox", manifests)
    gw = stack.gateway("gateway", [sb], toolsets, oidc_issuer=oidc.url,
                       extra=BENCH_LIMITS)
    # execute_code with one single-threaded sandbox process per core, `serve --processes`
    # (benches/PROFILE.md: threads of one process running CPython interrupt each other's TLB).
    sb_procs = stack.sandbox("sandbox-processes", {s: manifests[s] for s in ("examples", "code")},
                             env={"MCP_SANDBOX_PROCESSES": str(extra["cores"] or 1)})
    gw_core = stack.gateway("gateway-processes", [sb_procs], ["examples", "code"], extra=BENCH_LIMITS)
    per_core = [WithWorkers(sb_procs)]
    synth = [
        stack.sandbox(f"sandbox-synth{i}", {"synthetic": (
            "name: synthetic\ncomponents:\n  - file: synthetic_tools.wasm\n"
            f"    capabilities: {{env: {{SYNTH_PREFIX: inventory{i}, SYNTH_COUNT: '250'}}}}\n")},
            modules=modules_synth)
        for i in range(4)
    ]
    gw1000 = stack.gateway("gateway-1000", synth, ["synthetic"],
                           extra=BENCH_LIMITS + f"catalog: {{page_size: {PAGE_1000}}}\n")
    traced = {}
    for label, sampler, arg in [("10%", "parentbased_traceidratio", "0.1"), ("100%", "parentbased_always_on", "1")]:
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_SAMPLER": sampler,
                "OTEL_TRACES_SAMPLER_ARG": arg, "OTEL_BSP_MAX_QUEUE_SIZE": "65536"}
        tsb = stack.sandbox(f"sandbox-traced{label[:-1]}", {"examples": manifests["examples"]}, env=otel)
        traced[label] = (tsb, stack.gateway(f"gateway-traced{label[:-1]}", [tsb], ["examples"], env=otel,
                                            extra=BENCH_LIMITS))
    fed_port = h.free_port()
    fed = stack.start("fed-upstream", [PEERS / "venv/bin/python", FED_SERVER], announce=False,
                      url=f"http://127.0.0.1:{fed_port}",
                      env={"PORT": str(fed_port), "STATELESS": "1", "JSON_RESPONSE": "1"})
    sdk_sb = stack.sandbox("sandbox-sdk", {"sdk": SDK_TOOLSET})
    h.wait_until("the Python SDK server", lambda: _py_ready(pysdk.url), 60)
    h.wait_until("the federated upstream", lambda: _py_ready(fed.url), 60)
    gw_fed = stack.gateway("gateway-fed", [sb], [FED_NAME], extra=BENCH_LIMITS + (
        f"mcp_servers: [{{name: {FED_NAME}, url: '{fed.url}/mcp', max_concurrent: 1024}}]\n"))

    key = stack.api_key()
    h.wait_until("the federated tools in the gateway's catalog",
                 lambda: f'"{FED_NAME}__echo"'.encode() in h.http("POST", f"{gw_fed.url}/mcp", h.mcp_body("tools/list"), {
                     "Authorization": f"Bearer {key}", "Content-Type": "application/json",
                     "Accept": "application/json, text/event-stream"})[1], 60)
    h.wait_until("the key in gateway-processes", lambda: h.http("POST", f"{gw_core.url}/mcp", h.mcp_body("ping"), {
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream"})[0] == 200, 60)
    jwt = oidc_token(oidc.url)
    key_auth = {"Authorization": f"Bearer {key}"}
    jwt_auth = {"Authorization": f"Bearer {jwt}"}
    extra["tools_listed"] = mcp_post(f"{gw.url}/mcp", h.mcp_body("tools/list"), key).count(b'"inputSchema"')
    page = mcp_post(f"{gw1000.url}/mcp", h.mcp_body("tools/list"), key)
    extra["tools_1000_first_page"] = page.count(b'"inputSchema"')
    extra["tools_1000_total"] = count_all_tools(gw1000.url, key)
    log(f"{extra['tools_listed']} tools; synthetic catalog {extra['tools_1000_total']} tools, "
        f"{extra['tools_1000_first_page']} on the first page")

    if not only:
        log("code mode: bytes to the model")
        extra["code_mode"] = code_mode_bytes(gw.url, key)

    echo = {"text": "hello"}
    big = {"text": "x" * MIB}
    init = h.mcp_body("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "wrk", "version": "1"}})
    execute = lambda code, language="python": h.call_body("execute_code", {"language": language, "code": code})
    mcp = f"{gw.url}/mcp"
    # (key, label, group, url, body, headers, expected text, processes for CPU per call)
    scenarios = [
        ("echo_direct", "echo, direct to the sandbox", "echo", f"{sb.url}/v1/call", h.direct_body("echo", echo), {}, '"hello"', [sb]),
        ("echo_key", "echo, gateway, API key", "echo", mcp, h.call_body("echo", echo), key_auth, "hello", [gw, sb]),
        ("echo_jwt", "echo, gateway, OIDC RS256 JWT", "echo", mcp, h.call_body("echo", echo), jwt_auth, "hello", [gw, sb]),
        ("echo_pysdk", "echo, Python MCP SDK server (stateless JSON)", "echo", f"{pysdk.url}/mcp", h.call_body("echo", echo), {}, "hello", [pysdk]),
        ("fed_direct", "federated echo, direct to the upstream (Python SDK, stateless JSON)", "federation", f"{fed.url}/mcp", h.call_body("echo", echo), {}, "hello", [fed]),
        ("fed_gw", f"federated echo, gateway ({FED_NAME}__echo)", "federation", f"{gw_fed.url}/mcp", h.call_body(f"{FED_NAME}__echo", echo), key_auth, "hello", [gw_fed, fed]),
        ("sdk_py", "echo of the Python tool SDK (py_echo), direct to the sandbox", "sdk", f"{sdk_sb.url}/v1/call", h.direct_body("py_echo", echo), {}, '"length":5', [sdk_sb]),
        ("sdk_ts", "echo of the TypeScript tool SDK (ts_echo), direct to the sandbox", "sdk", f"{sdk_sb.url}/v1/call", h.direct_body("ts_echo", echo), {}, '"length":5', [sdk_sb]),
        ("ping", "ping, gateway", "protocol", mcp, h.mcp_body("ping"), key_auth, '"result"', [gw]),
        ("initialize", "initialize, gateway", "protocol", mcp, init, key_auth, "protocolVersion", [gw]),
        ("list27", f"tools/list, {extra['tools_listed']} tools", "protocol", mcp, h.mcp_body("tools/list"), key_auth, '"inputSchema"', [gw]),
        ("list1000", f"tools/list, first page ({extra['tools_1000_first_page']} tools) of {extra['tools_1000_total']} tools in 4 sandboxes", "protocol", f"{gw1000.url}/mcp", h.mcp_body("tools/list"), key_auth, '"inputSchema"', [gw1000]),
        ("exec_trivial", "execute_code print('hello'), gateway", "code", mcp, execute("print('hello')"), key_auth, "hello", [gw, sb]),
        ("exec_percore", "execute_code print('hello'), gateway, sandbox --processes (one per core)", "code", f"{gw_core.url}/mcp", execute("print('hello')"), key_auth, "hello", [gw_core, *per_core]),
        ("exec_nested", "execute_code with 100 nested echo calls, gateway", "code", mcp, execute(NESTED_PROGRAM), key_auth, "690", [gw, sb]),
        ("exec_js", "execute_code JavaScript console.log('hello'), gateway", "code", mcp, execute(JS_TRIVIAL, "javascript"), key_auth, "hello", [gw, sb]),
        ("exec_ts", "execute_code TypeScript (typed const, console.log), gateway", "code", mcp, execute(TS_TRIVIAL, "typescript"), key_auth, "hello", [gw, sb]),
        ("exec_js_nested", "execute_code JavaScript with 100 nested echo calls, gateway", "code", mcp, execute(JS_NESTED_PROGRAM, "javascript"), key_auth, "690", [gw, sb]),
    ]
    for label, (tsb, tgw) in traced.items():
        scenarios += [
            (f"echo_direct_t{label[:-1]}", f"echo, direct, tracing {label}", "tracing", f"{tsb.url}/v1/call", h.direct_body("echo", echo), {}, '"hello"', [tsb]),
            (f"echo_key_t{label[:-1]}", f"echo, gateway, tracing {label}", "tracing", f"{tgw.url}/mcp", h.call_body("echo", echo), key_auth, "hello", [tgw, tsb]),
        ]
    # Last, so the peak memory before it is that of the small calls.
    scenarios += [
        ("big_direct", "1 MiB echo, direct to the sandbox", "size", f"{sb.url}/v1/call", h.direct_body("echo", big), {}, '"length":1048576', [sb]),
        ("big_key", "1 MiB echo, gateway", "size", mcp, h.call_body("echo", big), key_auth, '"length":1048576', [gw, sb]),
    ]

    if only:
        scenarios = [s for s in scenarios if re.search(only, s[0])]
    scenarios = [s[:6] + (s[6] + " (broken on purpose)" if s[0] in broken else s[6],) + s[7:]
                 for s in scenarios]
    results = []
    for n, (name, label, group, url, body, headers, expect, procs) in enumerate(scenarios):
        if name == "big_direct":
            extra["hwm_before_1mib"] = {p.name: p.vm_hwm_kib() for p in (gw, sb)}
        # Wait for one answer first: the calls of the scenario before may still be queued in
        # the sandbox (64 connections of 100-call programs leave seconds of work behind), and a
        # 1 s warm-up behind them would complete no request.
        h.http("POST", url, body, dict(headers, **{"Content-Type": "application/json",
                                                   "Accept": "application/json, text/event-stream"}), timeout=120)
        # Warm up (connections, caches, the first JIT-free instantiation), then measure.
        h.wrk(url, body, work, headers, conns=min(conns), duration=1, expect=expect)
        for c in conns:
            before = [p.stat() for p in procs]
            r = h.wrk(url, body, work, headers, conns=c, duration=duration, expect=expect)
            after = [p.stat() for p in procs]
            n_req = max(r["requests"], 1)
            delta = {k: sum(a[k] - b[k] for a, b in zip(after, before)) for k in before[0]}
            r.update(name=name, label=label, group=group, conns=c,
                     cpu_us_per_call=(delta["user_s"] + delta["sys_s"]) / n_req * 1e6,
                     sys_us_per_call=delta["sys_s"] / n_req * 1e6,
                     faults_per_call=delta["minflt"] / n_req,
                     procs=[p.name for p in procs])
            results.append(r)
            log(f"({n + 1}/{len(scenarios)}) {label}, {c} conn: {r['rps']:.0f} req/s, "
                f"p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms, "
                f"{r['cpu_us_per_call']:.0f} us CPU/call, failed 0 of {r['requests']}")
    extra["loadavg_end"] = Path("/proc/loadavg").read_text().split()[0]
    extra["hwm_kib"] = {p.name: p.vm_hwm_kib() for p in stack.procs}
    extra["otlp_sink"] = {"requests": sink.requests, "bytes": sink.bytes}
    return results, extra


def _py_ready(url):
    status, _ = h.http("POST", f"{url}/mcp", h.mcp_body("ping"),
                       {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})
    return status == 200


def count_all_tools(gw_url, key):
    total, cursor = 0, None
    for _ in range(100):
        params = {"cursor": cursor} if cursor else {}
        page = json.loads(mcp_post(f"{gw_url}/mcp", h.mcp_body("tools/list", params), key))["result"]
        total += len(page["tools"])
        cursor = page.get("nextCursor")
        if not cursor:
            break
    return total


def new_sections(by, conns, c_mid):
    """The JavaScript/TypeScript code mode, federation and tool-author SDK paragraphs."""
    c1 = min(conns)
    r = lambda name, c=c_mid: by[(name, c)]
    js, ts, py = r("exec_js", c1), r("exec_ts", c1), r("exec_trivial", c1)
    goal = "under" if js["p50_us"] < 2000 else "over"
    f0, f1 = r("fed_direct", c1), r("fed_gw", c1)
    rust, pys, tss = r("echo_direct", c1), r("sdk_py", c1), r("sdk_ts", c1)
    return [
        "",
        "### JavaScript and TypeScript code mode",
        "",
        f"A trivial JavaScript `execute_code` answers in {js['p50_us'] / 1000:.2f} ms at p50 end to "
        f"end through the gateway at {c1} connection, {goal} issue 16's goal of 2 ms "
        f"(TypeScript {ts['p50_us'] / 1000:.2f} ms, its types stripped by the sandbox host first; "
        f"Python {py['p50_us'] / 1000:.2f} ms); at {c_mid} connections JavaScript serves "
        f"{r('exec_js')['rps'] / r('exec_trivial')['rps']:.2f}x Python's throughput at "
        f"{r('exec_js')['cpu_us_per_call']:,.0f} us of server CPU per call against "
        f"{r('exec_trivial')['cpu_us_per_call']:,.0f} us. With 100 nested echo calls a JavaScript "
        f"program runs {r('exec_js_nested')['rps'] / r('exec_nested')['rps']:.2f}x as many "
        f"programs per second as the Python one ({r('exec_js_nested')['cpu_us_per_call']:,.0f} / "
        f"{r('exec_nested')['cpu_us_per_call']:,.0f} us CPU per program).",
        "",
        "### Federation",
        "",
        f"Put in front of an upstream MCP server on the official Python SDK, the gateway changes "
        f"the latency of its echo at {c1} connection by {f1['p50_us'] - f0['p50_us']:+.0f} us at "
        f"p50 and {f1['p99_us'] - f0['p99_us']:+.0f} us at p99, and serves "
        f"{r('fed_gw')['rps'] / r('fed_direct')['rps']:.2f}x the direct throughput at {c_mid} "
        f"connections. Of the {r('fed_gw')['cpu_us_per_call']:,.0f} us of server CPU per federated "
        f"call (gateway and upstream), the upstream alone costs {r('fed_direct')['cpu_us_per_call']:,.0f} us "
        f"when called directly: the difference, "
        f"{r('fed_gw')['cpu_us_per_call'] - r('fed_direct')['cpu_us_per_call']:,.0f} us, is the gateway's share.",
        "",
        "### Tool-author SDKs",
        "",
        f"The same echo written with the Python SDK answers in {pys['p50_us'] / 1000:.2f} ms and "
        f"with the TypeScript SDK in {tss['p50_us'] / 1000:.2f} ms at p50, against "
        f"{rust['p50_us'] / 1000:.2f} ms for the Rust `echo` (direct to the sandbox, {c1} "
        f"connection); at {c_mid} connections they serve {r('sdk_py')['rps'] / r('echo_direct')['rps']:.2f}x "
        f"and {r('sdk_ts')['rps'] / r('echo_direct')['rps']:.2f}x the Rust throughput, at "
        f"{r('sdk_py')['cpu_us_per_call']:,.0f} and {r('sdk_ts')['cpu_us_per_call']:,.0f} us of "
        f"sandbox CPU per call against {r('echo_direct')['cpu_us_per_call']:,.0f} us: each call "
        "instantiates a whole interpreter component (CPython, SpiderMonkey) instead of a small "
        "Rust module.",
    ]


def render(results, extra):
    by = {(r["name"], r["conns"]): r for r in results}
    conns = extra["conns"]
    c_mid = 16 if 16 in conns else conns[len(conns) // 2]

    def ratio(a, b, c=c_mid):
        return by[(a, c)]["rps"] / by[(b, c)]["rps"]

    lines = [
        "# Performance report",
        "",
        f"Generated by `benches/report.sh` ({extra['profile']} binaries) on a machine with "
        f"**{extra['cores']} cores** (Linux {extra['kernel']}), everything on loopback: wrk (one "
        "thread), the gateways, the sandboxes and the peers share those cores, so **every figure "
        "is to be read as a ratio to another figure of this same run**; absolute numbers move "
        f"from run to run and machine to machine. {extra['duration_s']:g} s per scenario and "
        f"connection count after a short warm-up; whole run {extra['runtime_s'] / 60:.1f} min. "
        "Every response was checked (status, JSON-RPC error, `isError`, expected text) and none "
        "failed: a run with a bad response writes no report. Load average (1 min) at the start "
        f"and end of the run: {extra['loadavg_start']} and {extra['loadavg_end']}; above "
        f"{extra['cores']} it means other processes shared the cores, and throughput ratios "
        "are then noisy: the server CPU per call is the steadier figure.",
        "",
        "## Ratios",
        "",
        "| what | ratio | at |",
        "|---|---|---|",
    ]
    d1, g1 = by[("echo_direct", min(conns))], by[("echo_key", min(conns))]
    rows = [
        ("gateway echo (API key) / direct sandbox echo, throughput", f"{ratio('echo_key', 'echo_direct'):.2f}x", f"{c_mid} conn"),
        ("gateway echo: added latency p50 / p99", f"{(g1['p50_us'] - d1['p50_us']):+.0f} us / {(g1['p99_us'] - d1['p99_us']):+.0f} us", f"{min(conns)} conn"),
        ("server CPU per echo call: gateway + sandbox / sandbox alone", f"{by[('echo_key', c_mid)]['cpu_us_per_call'] / by[('echo_direct', c_mid)]['cpu_us_per_call']:.2f}x ({by[('echo_key', c_mid)]['cpu_us_per_call']:.0f} / {by[('echo_direct', c_mid)]['cpu_us_per_call']:.0f} us)", f"{c_mid} conn"),
        ("OIDC JWT / API key, gateway echo throughput", f"{ratio('echo_jwt', 'echo_key'):.2f}x", f"{c_mid} conn"),
        ("server CPU per echo call: Python MCP SDK server / ours (gateway + sandbox)", f"{by[('echo_pysdk', c_mid)]['cpu_us_per_call'] / by[('echo_key', c_mid)]['cpu_us_per_call']:.1f}x", f"{c_mid} conn"),
        ("our echo (gateway + sandbox) / Python MCP SDK echo server", f"{ratio('echo_key', 'echo_pysdk'):.1f}x", f"{c_mid} conn"),
        (f"tools/list ({extra['tools_listed']} tools) / ping", f"{ratio('list27', 'ping'):.2f}x", f"{c_mid} conn"),
        (f"tools/list first page ({extra['tools_1000_first_page']} tools) of {extra['tools_1000_total']} tools / all {extra['tools_listed']} tools", f"{ratio('list1000', 'list27'):.2f}x", f"{c_mid} conn"),
        (f"gateway CPU per tools/list: page of {extra['tools_1000_total']} tools / {extra['tools_listed']} tools (server-side; the client limits the throughput of large answers)", f"{by[('list1000', c_mid)]['cpu_us_per_call'] / by[('list27', c_mid)]['cpu_us_per_call']:.2f}x", f"{c_mid} conn"),
        ("server CPU per gateway echo call, tracing 10% / 100% / off", f"{by[('echo_key_t10', c_mid)]['cpu_us_per_call']:.0f} / {by[('echo_key_t100', c_mid)]['cpu_us_per_call']:.0f} / {by[('echo_key', c_mid)]['cpu_us_per_call']:.0f} us", f"{c_mid} conn"),
        ("gateway echo, tracing 10% / tracing off", f"{ratio('echo_key_t10', 'echo_key'):.2f}x", f"{c_mid} conn"),
        ("gateway echo, tracing 100% / tracing off", f"{ratio('echo_key_t100', 'echo_key'):.2f}x", f"{c_mid} conn"),
        ("execute_code trivial, throughput 16 conn / 1 conn", f"{by[('exec_trivial', c_mid)]['rps'] / by[('exec_trivial', min(conns))]['rps']:.2f}x", f"{extra['cores']} cores"),
        ("execute_code trivial, sandbox --processes (one per core), throughput 16 conn / 1 conn", f"{by[('exec_percore', c_mid)]['rps'] / by[('exec_percore', min(conns))]['rps']:.2f}x", f"{extra['cores']} cores"),
        ("execute_code trivial, sandbox --processes / one process, throughput", f"{ratio('exec_percore', 'exec_trivial'):.2f}x", f"{c_mid} conn"),
        ("1 MiB echo, gateway / direct throughput", f"{ratio('big_key', 'big_direct'):.2f}x", f"{c_mid} conn"),
    ]
    c1 = min(conns)
    p50 = lambda name, c=c1: by[(name, c)]["p50_us"] / 1000
    cpu = lambda name, c=c_mid: by[(name, c)]["cpu_us_per_call"]
    f1, f0 = by[("fed_gw", c1)], by[("fed_direct", c1)]
    rows += [
        ("execute_code trivial, JavaScript / Python, throughput", f"{ratio('exec_js', 'exec_trivial'):.2f}x", f"{c_mid} conn"),
        ("execute_code trivial, TypeScript / JavaScript, throughput", f"{ratio('exec_ts', 'exec_js'):.2f}x", f"{c_mid} conn"),
        ("execute_code trivial, p50 JavaScript / TypeScript / Python", f"{p50('exec_js'):.2f} / {p50('exec_ts'):.2f} / {p50('exec_trivial'):.2f} ms", f"{c1} conn"),
        ("execute_code 100 nested echo calls, JavaScript / Python, throughput", f"{ratio('exec_js_nested', 'exec_nested'):.2f}x", f"{c_mid} conn"),
        ("federated echo, gateway / direct to the upstream, throughput", f"{ratio('fed_gw', 'fed_direct'):.2f}x", f"{c_mid} conn"),
        ("federated echo: gateway's added latency p50 / p99", f"{f1['p50_us'] - f0['p50_us']:+.0f} us / {f1['p99_us'] - f0['p99_us']:+.0f} us", f"{c1} conn"),
        ("server CPU per federated echo: gateway + upstream / upstream alone", f"{cpu('fed_gw') / cpu('fed_direct'):.2f}x ({cpu('fed_gw'):,.0f} / {cpu('fed_direct'):,.0f} us)", f"{c_mid} conn"),
        ("tool-author echo direct to the sandbox, Python SDK / Rust, throughput", f"{ratio('sdk_py', 'echo_direct'):.2f}x", f"{c_mid} conn"),
        ("tool-author echo direct to the sandbox, TypeScript SDK / Rust, throughput", f"{ratio('sdk_ts', 'echo_direct'):.2f}x", f"{c_mid} conn"),
        ("tool-author echo, p50 Rust / Python SDK / TypeScript SDK", f"{p50('echo_direct'):.2f} / {p50('sdk_py'):.2f} / {p50('sdk_ts'):.2f} ms", f"{c1} conn"),
    ]
    cm = extra.get("code_mode", {"execute_code": 0, "direct_search_logs": 1, "direct_error_summaries": 1, "execute_code_answer": ""})
    rows.append(("code mode: bytes to the model, execute_code / direct search_logs calls",
                 f"{cm['execute_code'] / cm['direct_search_logs'] * 100:.2f}% ({cm['execute_code']:,} / {cm['direct_search_logs']:,} B)", "5 services"))
    rows.append(("code mode: execute_code / direct get_error_summary calls",
                 f"{cm['execute_code'] / cm['direct_error_summaries'] * 100:.1f}% ({cm['execute_code']:,} / {cm['direct_error_summaries']:,} B)", "5 services"))
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} |")
    lines += [
        "",
        "## Server CPU per call",
        "",
        "User + system CPU time of the serving processes (from `/proc/<pid>/stat`) over the "
        f"{c_mid}-connection run, divided by the requests served.",
        "",
        "| scenario | processes | CPU per call | of which kernel | page faults per call |",
        "|---|---|---:|---:|---:|",
    ]
    for name in ["echo_direct", "echo_key", "echo_jwt", "echo_pysdk", "fed_direct", "fed_gw", "sdk_py", "sdk_ts",
                 "ping", "list27", "list1000", "exec_trivial", "exec_percore", "exec_js", "exec_ts", "exec_nested", "exec_js_nested",
                 "big_direct", "big_key"]:
        r = by[(name, c_mid)]
        lines.append(f"| {r['label']} | {' + '.join(r['procs'])} | {r['cpu_us_per_call']:,.0f} us | "
                     f"{r['sys_us_per_call']:,.0f} us | {r['faults_per_call']:,.0f} |")
    e1, e16 = by[("exec_trivial", min(conns))], by[("exec_trivial", c_mid)]
    k1, k16 = by[("exec_percore", min(conns))], by[("exec_percore", c_mid)]
    lines += [
        "",
        "### execute_code and the cores",
        "",
        f"A trivial `execute_code` costs the gateway and sandbox {e1['cpu_us_per_call']:,.0f} us of "
        f"CPU at {min(conns)} connection ({e1['sys_us_per_call']:,.0f} us of it in the kernel, "
        f"{e1['faults_per_call']:,.0f} page faults) and {e16['cpu_us_per_call']:,.0f} us at "
        f"{c_mid} ({e16['sys_us_per_call']:,.0f} us kernel, {e16['faults_per_call']:,.0f} faults). "
        "Each call instantiates CPython from a 16 MiB interpreter snapshot mapped copy-on-write; "
        "the pages it writes are scattered over hundreds of runs, wasmtime 48 restores only the "
        "first 32 in place and decommits the rest, so they fault in again on every call. A "
        "copy-on-write fault on a page mapped read-only must flush it from the TLB of every other "
        "core running the same process (an inter-processor interrupt, a VM exit here): two calls "
        "in two threads of one sandbox interrupt each other on every such fault, and the second "
        "core buys little. With `mcp-sandbox serve --processes <cores>` (single-threaded "
        "worker processes sharing the port) those interrupts all but disappear: "
        f"{k1['rps']:,.0f} calls/s at {min(conns)} connection and {k16['rps']:,.0f} at {c_mid} "
        f"({k16['rps'] / k1['rps']:.2f}x; one sandbox {e16['rps'] / e1['rps']:.2f}x), at "
        f"{k16['cpu_us_per_call']:,.0f} us of CPU per call at {c_mid} connections "
        f"({k16['sys_us_per_call']:,.0f} us kernel). Where the rest of a call's time goes "
        "(function references built at every instantiation, the faults, the interrupts), with "
        "the perf profiles: [PROFILE.md](PROFILE.md).",
    ]
    lines += new_sections(by, conns, c_mid)
    lines += [
        "",
        "## All scenarios",
        "",
        "| scenario | conn | req/s | p50 ms | p99 ms | failed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['label']} | {r['conns']} | {r['rps']:,.0f} | {r['p50_us'] / 1000:.2f} | "
                     f"{r['p99_us'] / 1000:.2f} | {r['bad']} of {r['requests']:,} |")
    lines += [
        "",
        "![throughput and p99 against connections](results.svg)",
        "",
        "## Peak memory (VmHWM)",
        "",
        "| process | before the 1 MiB calls | at the end |",
        "|---|---:|---:|",
    ]
    before = extra.get("hwm_before_1mib", {})
    for name, kib in extra["hwm_kib"].items():
        b = f"{before[name] / 1024:.0f} MiB" if name in before else ""
        lines.append(f"| {name} | {b} | {kib / 1024:.0f} MiB |")
    lines += [
        "",
        "## Code mode: what reaches the model",
        "",
        "Task: for each of five services (api-gateway, auth-service, notification-service, "
        "payment-service, user-service), the number of errors and the three most frequent error "
        "messages. Without code mode the model calls `search_logs(service, log_level=ERROR, "
        "limit=1000)` five times and reads every entry (or `get_error_summary` five times, which "
        "answers a fixed summary rather than this task); with it, one `execute_code` call runs "
        "the five searches in the sandbox and returns only the summary. Bytes are the JSON-RPC "
        "response bodies the client receives.",
        "",
        f"- direct `search_logs` x5: {cm['direct_search_logs']:,} bytes",
        f"- direct `get_error_summary` x5: {cm['direct_error_summaries']:,} bytes",
        f"- one `execute_code`: {cm['execute_code']:,} bytes, answering:",
        "",
        "```",
        cm["execute_code_answer"].strip(),
        "```",
        "",
        "## Setup",
        "",
        f"- Sandbox `sandbox`: the example, code and log-analysis tool sets ({extra['tools_listed']} "
        "tools; the example set's argument and output caps raised to 4 MiB for the 1 MiB echo, and the "
        "gateway's `limits.max_arguments` too; one API key stands in for many callers, so the "
        "gateways' per-caller in-flight and buffer budgets are raised to their totals), max 16 "
        "concurrent calls. Gateway `gateway` in front of it with API keys and the real OIDC "
        "provider (panva/oidc-provider, RS256 access tokens) configured, audit off, 2 threads.",
        f"- `gateway-processes`: in front of `sandbox-processes`, which serves the example and "
        f"code tool sets with `--processes {extra['cores']}` (its CPU and page faults are summed "
        "over its worker processes); only the `--processes` execute_code row goes through it.",
        f"- `gateway-1000`: four sandboxes of 250 synthetic tools each "
        f"(`benches/synthetic-tools`), page size {PAGE_1000}.",
        "- Tracing: a separate sandbox and gateway per sampling rate, both exporting OTLP/HTTP to "
        "a local sink (`parentbased_traceidratio` 0.1 and `parentbased_always_on`); the sink "
        f"received {extra['otlp_sink']['requests']:,} export requests, "
        f"{extra['otlp_sink']['bytes']:,} bytes.",
        "- Python MCP SDK: `../shared/peers/upstream_server.py` (the official SDK's MCPServer, "
        "Streamable HTTP, `stateless_http` and `json_response`), under uvicorn.",
        "- JavaScript and TypeScript `execute_code`: the same sandbox also serves the `javascript` "
        "tool set (the engine, `target/tools/javascript.wasm`), not granted at the gateway, so "
        "the catalog is unchanged; the programs are sent with `language` `javascript` or "
        "`typescript`.",
        f"- Federation: `gateway-fed` with `mcp_servers: [{{name: {FED_NAME}, url: ..., "
        "max_concurrent: 1024}]` (the default 64 in flight would answer 503 `saturated` to "
        "part of the 64-connection run) in "
        "front of `proxy/tests/peers/fed_server.py` (the official Python SDK's FastMCP/MCPServer, "
        "`STATELESS=1 JSON_RESPONSE=1`, under uvicorn); the direct calls go to the same "
        f"process, the gateway's as `{FED_NAME}__echo`.",
        "- Tool-author SDKs: `sandbox-sdk` serves `py_examples.wasm` (`sdk/python`) and "
        "`ts_examples.wasm` (`sdk/typescript`) in a tool set of their own, as "
        "`sdk/python/bench_echo.py` does; the Rust figure is `echo` in `sandbox`.",
        "- Load: wrk with `benches/wrk/post.lua`, one thread, keep-alive connections. It checks "
        "every body, which costs the client time per byte: for the large answers (tools/list "
        "pages, 1 MiB echoes) wrk's one thread, not the server, can set the throughput, so "
        "compare those by the server CPU per call.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
