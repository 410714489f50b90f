-- wrk script of bench/overload.py: bench/load.lua's requests (one "cookie<TAB>path" per
-- line, taken in turn, no think time), and after a 503 a pause of SHED_PAUSE_MS before the
-- connection's next request (0: none, the tight loop); the result as one JSON line.
local lines = {}
local next_line = 1
local shed_pause_ms = 0
local shed = false

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local cookie, path = line:match("^([^\t]*)\t(.*)$")
    if cookie then lines[#lines + 1] = {cookie, path} end
  end
  file:close()
  shed_pause_ms = tonumber(args[2] or "0") or 0
  local id = tonumber(thread_id) or 0
  next_line = (id * 7919) % #lines + 1
end

function request()
  local entry = lines[next_line]
  next_line = next_line % #lines + 1
  return wrk.format("GET", entry[2], {["Cookie"] = entry[1]})
end

-- wrk calls response() then delay() for the same connection, one after the other
function response(status, headers, body)
  shed = status == 503
end

function delay()
  if shed and shed_pause_ms > 0 then
    shed = false
    return shed_pause_ms
  end
  return 0
end

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
