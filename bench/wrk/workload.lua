-- wrk script for the supportdesk benchmark. Settings come from the environment:
--   TOKEN, BODY      one request, repeated: POST BODY to the URL with TOKEN (GraphQL);
--                    without BODY, GET the URL with TOKEN (the baseline).
--   TOKEN, BODIES    POST the bodies of the file BODIES (one JSON body a line) in turn.
--   MIX_*            W6: a cycle of ten requests, three each of W2, W3 and W4, then one
--                    createTicket: MIX_W2_TOKEN/MIX_W2_BODY, MIX_W3_…, MIX_W4_…, MIX_W5_….
-- `done` prints one line the runner parses: RESULT rps=… p50_ms=… p99_ms=… requests=… errors=…
-- (errors: connect/read/write/timeout errors and non-2xx answers).

local function post(token, body)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

local function setting(name)
  local value = os.getenv(name)
  if value == "" then return nil end
  return value
end

local cycle = nil
local position = 0

if setting("MIX_W2_BODY") then
  cycle = {}
  for _ = 1, 3 do
    for _, name in ipairs({ "W2", "W3", "W4" }) do
      table.insert(cycle, post(os.getenv("MIX_" .. name .. "_TOKEN"), os.getenv("MIX_" .. name .. "_BODY")))
    end
  end
  table.insert(cycle, post(os.getenv("MIX_W5_TOKEN"), os.getenv("MIX_W5_BODY")))
  request = function()
    position = position % #cycle + 1
    return cycle[position]
  end
elseif setting("BODIES") then
  local bodies = {}
  for line in io.lines(os.getenv("BODIES")) do
    table.insert(bodies, post(os.getenv("TOKEN"), line))
  end
  request = function()
    position = position % #bodies + 1
    return bodies[position]
  end
elseif setting("BODY") then
  wrk.method = "POST"
  wrk.body = os.getenv("BODY")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
else
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
