-- wrk script: POST the body in $BODY_FILE with the headers in $HEADERS ("k: v|k: v").
-- Non-2xx answers are counted by wrk; a 200 with a JSON-RPC error or isError counts as failed here.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
for pair in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
  local k, v = pair:match("^%s*(.-)%s*:%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end
local bad = 0
function response(status, headers, body)
  if status ~= 200 or body:find('"isError":true', 1, true) or body:find('"error":{', 1, true)
     or body:find('"ok":false', 1, true) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  io.write(string.format("BAD_RESPONSES %d\n", bad))
end
