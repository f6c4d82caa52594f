-- POST one fixed body over and over; at the end write a JSON summary for bench/run.sh.
--
-- Configured through the environment (bench/run.sh sets these per scenario):
--   BENCH_BODY_FILE      file holding the request body, sent verbatim
--   BENCH_CONTENT_TYPE   Content-Type of that body
--   BENCH_AUTHORIZATION  optional Authorization header value (HTTP Basic for introspection)
--   BENCH_REPORT         where done() writes its JSON summary
--
-- Errors: `status` is what wrk itself counts (HTTP status >= 400, i.e. every non-2xx answer these
-- endpoints can give); `connect`, `read`, `write` and `timeout` are socket errors.

local function read_file(path)
  local file = assert(io.open(path, "rb"), "cannot open BENCH_BODY_FILE " .. tostring(path))
  local content = file:read("*a")
  file:close()
  return content
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

function done(summary, latency, requests)
  local e = summary.errors
  local report = string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean)
  local path = os.getenv("BENCH_REPORT")
  if path ~= nil and path ~= "" then
    local file = assert(io.open(path, "w"))
    file:write(report)
    file:close()
  else
    io.write(report)
  end
end
