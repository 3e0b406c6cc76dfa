-- Shared by every scenario. setup() numbers the threads (scripts slice their
-- data by `id`); done() prints one JSON line for the harness, because wrk's
-- human summary rounds figures and switches units.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- Per-thread counters a scenario may keep; read back through the thread
-- objects, the only way from a worker thread's Lua state to the main one.
local function total(name)
  local sum = 0
  for _, thread in ipairs(threads) do
    sum = sum + (tonumber(thread:get(name)) or 0)
  end
  return sum
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
      .. '"unexpected": %d, "unauthorized": %d, "dry": %d}\n',
    summary.duration, summary.requests, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout,
    total("unexpected"), total("unauthorized"), total("dry")))
end
