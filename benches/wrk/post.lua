-- wrk script: POST the body in $BODY_FILE with the headers in $HEADERS ("k: v|k: v") and check
-- every answer. A response is bad when
--   * its status is not $EXPECT_STATUS (default 200), or
--   * its body is a JSON-RPC error ("error": {...}), an MCP tool failure ("isError": true) or a
--     failed sandbox call ("ok": false), or
--   * $EXPECT is set and the body does not contain that string (e.g. the echoed text).
-- Socket errors and timeouts count as failures too.
--
-- wrk runs each thread in its own Lua state and `done` in yet another one, so the counters are
-- per-thread globals that `done` collects through the thread handles kept by `setup`.
-- At the end it prints "BAD_RESPONSES <n>" (bad answers + socket errors), up to $SHOW_BAD
-- (default 5) of the bad answers, and exits with status 3 when n > 0 (4 when no request
-- completed at all), so a run cannot be mistaken for a clean one.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
for pair in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
  local k, v = pair:match("^%s*(.-)%s*:%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end

local expect_status = tonumber(os.getenv("EXPECT_STATUS") or "200")
local expect = os.getenv("EXPECT")
if expect == "" then expect = nil end
local show_bad = tonumber(os.getenv("SHOW_BAD") or "5")

-- Main state: one handle per thread.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- Thread states: these globals are what `thread:get` reads.
bad = 0
samples = {}

-- Whole-body searches are for compact JSON (what every server here writes) with plain `find`,
-- which costs about a memchr per byte; Lua patterns (any spacing) run only over the first
-- bytes, where a JSON-RPC error's "error" key is. Pattern scans over a whole 150 KB tools/list
-- page made wrk itself the bottleneck.
local HEAD = 512

local function failure(status, body)
  if status ~= expect_status then return "status " .. status end
  -- A JSON-RPC error has "error" and no "result"; a result may itself hold an "error" object
  -- (an output schema in tools/list), after its "result" key.
  local e = body:find('"error":{', 1, true)
  local r = body:find('"result":', 1, true)
  if e and (not r or e < r) then return "JSON-RPC error" end
  local head = body:sub(1, HEAD)
  e = head:find('"error"%s*:%s*{')
  r = head:find('"result"%s*:')
  if e and (not r or e < r) then return "JSON-RPC error" end
  if body:find('"isError":true', 1, true) or head:find('"isError"%s*:%s*true') then
    return "isError result"
  end
  if head:find('^%s*{%s*"ok"%s*:%s*false') then return "failed call" end
  if expect and not body:find(expect, 1, true) then return "body lacks " .. expect end
  return nil
end

function response(status, headers, body)
  local why = failure(status, body or "")
  if why then
    bad = bad + 1
    if #samples < show_bad then
      table.insert(samples, why .. ": " .. string.sub(body or "", 1, 300))
    end
  end
end

function done(summary, latency, requests)
  local total, shown = 0, 0
  for _, t in ipairs(threads) do
    total = total + (t:get("bad") or 0)
    for _, s in ipairs(t:get("samples") or {}) do
      if shown < show_bad then
        io.write("BAD_RESPONSE " .. s:gsub("\n", " ") .. "\n")
        shown = shown + 1
      end
    end
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  if socket > 0 then
    io.write(string.format("SOCKET_ERRORS connect %d read %d write %d timeout %d\n",
      e.connect, e.read, e.write, e.timeout))
  end
  total = total + socket
  io.write(string.format("BAD_RESPONSES %d of %d\n", total, summary.requests))
  io.flush()
  if total > 0 then os.exit(3) end
  -- A run that got no answer at all measured nothing.
  if summary.requests == 0 then
    io.write("NO_RESPONSES: not one request completed\n")
    io.flush()
    os.exit(4)
  end
end
