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

-- Whole-body searches are for compact JSON (what every server here writes) with plain `find`;
-- Lua patterns (any spacing) run only over the first bytes, where a JSON-RPC error's "error"
-- key is. A plain find runs memchr on the needle's first character and compares at each hit,
-- so needles starting with '"' (every few bytes of JSON) cost a call per string in the body:
-- on a 40-150 KB tools/list page that made wrk itself the bottleneck. So each whole-body
-- search below either stops at the first "result" key (early in every answer) or looks for a
-- rarer first character and checks the bytes before it; the verdicts are the same.
local HEAD = 512

-- Whether the body contains '"isError":true' (found through its rarer 'E').
local function has_is_error_true(body)
  local from = 1
  while true do
    local q = body:find('Error":true', from, true)
    if not q then return false end
    if q > 3 and body:sub(q - 3, q - 1) == '"is' then return true end
    from = q + 1
  end
end

local function failure(status, body)
  if status ~= expect_status then return "status " .. status end
  -- A JSON-RPC error has "error" and no "result"; a result may itself hold an "error" object
  -- (an output schema in tools/list), after its "result" key. So an "error" key counts only
  -- before the first "result" key (anywhere when there is none).
  local r = body:find('"result":', 1, true)
  local e = (r and body:sub(1, r + 8) or body):find('"error":{', 1, true)
  if e and (not r or e < r) then return "JSON-RPC error" end
  local head = body:sub(1, HEAD)
  e = head:find('"error"%s*:%s*{')
  r = head:find('"result"%s*:')
  if e and (not r or e < r) then return "JSON-RPC error" end
  if has_is_error_true(body) or head:find('"isError"%s*:%s*true') then
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
