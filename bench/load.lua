-- wrk script of bench/load.py (--client wrk): the requests of the virtual vérificateurs,
-- one "cookie<TAB>path" per line, taken in turn; an optional think time (exponential,
-- mean THINK_MS) after each answer; the result as one JSON line on stdout.
local lines = {}
local next_line = 1
local think_ms = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local cookie, path = line:match("^([^\t]*)\t(.*)$")
    if cookie then lines[#lines + 1] = {cookie, path} end
  end
  file:close()
  think_ms = tonumber(args[2] or "0") or 0
  -- each wrk thread starts at its own place in the list
  local id = tonumber(thread_id) or 0  -- set by setup() below
  next_line = (id * 7919) % #lines + 1
  math.randomseed(id + 1)
end

function request()
  local entry = lines[next_line]
  next_line = next_line % #lines + 1
  return wrk.format("GET", entry[2], {["Cookie"] = entry[1]})
end

function delay()
  if think_ms <= 0 then return 0 end
  return math.floor(-math.log(1 - math.random()) * think_ms)
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
