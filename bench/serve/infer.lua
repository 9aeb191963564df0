-- wrk script: POST one Fashion-MNIST image as a KServe v2 JSON request, stop each thread
-- after MAX_REQUESTS / threads requests, and print one machine-readable RESULT line.
local body_file = os.getenv("BODY_FILE") or "infer.json"
local f = assert(io.open(body_file, "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local threads = {}
local per_thread = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local total = tonumber(os.getenv("MAX_REQUESTS") or "0")
  local n = tonumber(os.getenv("WRK_THREADS") or "1")
  per_thread = total > 0 and math.ceil(total / n) or 0
  answered = 0
  failed = 0
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then failed = failed + 1 end
  if per_thread > 0 and answered >= per_thread then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local non200 = 0
  for _, t in ipairs(threads) do non200 = non200 + (t:get("failed") or 0) end
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "non200=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, non200, e.connect, e.read, e.write,
    e.timeout))
end
