#!/usr/bin/env bash
# Proves that benches/wrk/post.lua can report failures: runs it against a small Python server
# that answers each path in its own way and checks the count wrk reports and its exit status.
#
#   benches/wrk/selftest.sh      # ~2 s; needs wrk and python3
#
#   /ok        JSON-RPC result                       -> 0 bad, exit 0
#   /okschema  a result holding "error": {...}       -> 0 bad, exit 0 (a tools/list answer)
#   /rpcerror  200 with a JSON-RPC error              -> every response bad, exit 3
#   /iserror   200 with an isError: true tool result  -> every response bad, exit 3
#   /notok     200 with a failed sandbox call         -> every response bad, exit 3
#   /status    500                                    -> every response bad, exit 3
#   /half      every second answer a JSON-RPC error   -> about half bad, exit 3
#   /ok with EXPECT=missing                           -> every response bad, exit 3
#   /bigok     a 60 KB result with "someError":true keys  -> 0 bad, exit 0
#   /bigiserror  the same with "isError":true at its end  -> every response bad, exit 3
#   /slow      answers after 3 s, past the 1 s run   -> no response at all, exit 4
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v wrk >/dev/null || { echo "selftest: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work="$(mktemp -d)"
server_pid=""
cleanup() { [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/server.py" <<'PY'
import http.server, itertools, sys, threading, time
count = itertools.count()
BODIES = {
    "/ok": (200, b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],"isError":false}}'),
    "/okschema": (200, b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"t","outputSchema":{"properties":{"error":{"type":"string"},"ok":false}}}]}}'),
    "/rpcerror": (200, b'{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}'),
    "/iserror": (200, b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"boom"}],"isError":true}}'),
    "/notok": (200, b'{"ok":false,"tool":"echo","error":{"kind":"busy","message":"no slot"}}'),
    "/status": (500, b'{"error":"internal"}'),
}
# Large answers: whole-body checks must see the far end of the body, and only the exact key.
FILLER = b",".join(b'{"name":"t%d","someError":true,"schema":{"error":{"type":"string"}}}' % i for i in range(800))
BODIES["/bigok"] = (200, b'{"jsonrpc":"2.0","id":1,"result":{"tools":[' + FILLER + b']}}')
BODIES["/bigiserror"] = (200, b'{"jsonrpc":"2.0","id":1,"result":{"content":[' + FILLER + b'],"isError":true}}')
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = self.path
        if path == "/slow":
            time.sleep(3)
            path = "/ok"
        if path == "/half":
            path = "/rpcerror" if next(count) % 2 else "/ok"
        status, body = BODIES[path]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # every run connects at once
    def handle_error(self, request, address): pass  # wrk resets its connections at the end
srv = S(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$work/server.py" > "$work/port" &
server_pid=$!
for _ in $(seq 1 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
port=$(cat "$work/port")
echo '{"jsonrpc":"2.0","id":1,"method":"ping"}' > "$work/body.json"

# $1 path, $2 expected exit status, $3 "all" | "none" | "some"; extra env in $4. The runs go in
# parallel (one second each), then are checked in order.
n=0
runs=()
run() {
    n=$((n + 1))
    echo "$*" > "$work/case$n"
    ( set +e; env ${4:-} BODY_FILE="$work/body.json" wrk -t1 -c2 -d1s -s "$here/post.lua" \
        "http://127.0.0.1:$port$1" > "$work/out$n" 2>&1; echo $? > "$work/rc$n" ) &
    runs+=($!)
}
run /ok 0 none
run /rpcerror 3 all
run /iserror 3 all
run /notok 3 all
run /status 3 all
run /half 3 some
run /ok 0 none EXPECT=hello
run /ok 3 all EXPECT=missing
run /slow 4 zero
run /okschema 0 none
run /bigok 0 none
run /bigiserror 3 all
wait "${runs[@]}"
failures=0
for i in $(seq 1 "$n"); do
    read -r path want kind extra < "$work/case$i"
    out=$(cat "$work/out$i"); rc=$(cat "$work/rc$i")
    read -r bad total < <(sed -n 's/^BAD_RESPONSES \([0-9]*\) of \([0-9]*\)$/\1 \2/p' <<<"$out")
    ok=1
    [[ "$rc" == "$want" && -n "$bad" ]] || ok=0
    [[ "$kind" == zero || "${total:-0}" -gt 0 ]] || ok=0
    case "$kind" in
        zero) [[ "$total" == 0 ]] && grep -q '^NO_RESPONSES' <<<"$out" || ok=0 ;;
        none) [[ "$bad" == 0 ]] || ok=0 ;;
        all) [[ "$bad" == "$total" ]] || ok=0 ;;
        some) (( bad > total / 4 && bad < total * 3 / 4 )) || ok=0 ;;
    esac
    if [[ "$kind" != none && "$kind" != zero ]] && ! grep -q '^BAD_RESPONSE ' <<<"$out"; then ok=0; fi
    printf '%-4s %-10s %-16s exit %s (want %s), bad %s of %s (want %s)\n' \
        "$([[ $ok == 1 ]] && echo ok || echo FAIL)" "$path" "${extra:-}" "$rc" "$want" "${bad:-?}" "${total:-?}" "$kind"
    if [[ $ok != 1 ]]; then failures=$((failures + 1)); sed 's/^/    /' <<<"$out"; fi
done
if (( failures > 0 )); then echo "selftest: $failures check(s) failed"; exit 1; fi
echo "selftest: post.lua counts failures from every thread and exits non-zero on any"
