-- wrk script shared by every load run, so that the control and the endpoints pay the same client cost.
--
--   wrk ... -s bench.lua URL -- get                      the URL as given (headers from -H)
--   wrk ... -s bench.lua URL -- webhook MID PREFIX       POST a valid 2can callback, a fresh Id per request
--   wrk ... -s bench.lua URL -- login LOGIN PASSWORD     POST valid credentials as JSON
--
-- Counts every response by status and ends with one line: BENCH_JSON {...} (latencies in microseconds).

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local mode = "get"
local cached = nil
local mid = nil
local prefix = nil
local counter = 0
statuses = {}

local webhook_body = '{"Id":"%s-%d","MID":"%s","Amount":"10.00","ReaderId":"bench-reader",'
   .. '"CreatedAt":"2025-11-24 13:04:08","Inputtype":1,"ClientName":"Bench","Description":"load test"}'

function init(args)
   mode = args[1] or "get"
   if mode == "webhook" then
      mid = args[2]
      prefix = args[3] .. "-t" .. tostring(tid)
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
   elseif mode == "login" then
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
      wrk.body = string.format('{"login":"%s","password":"%s"}', args[2], args[3])
   end
   cached = wrk.format()
end

function request()
   if mode == "webhook" then
      counter = counter + 1
      return wrk.format(nil, nil, nil, string.format(webhook_body, prefix, counter, mid))
   end
   return cached
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(total) do
      table.insert(parts, string.format('"%d":%d', status, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d},"statuses":{%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      table.concat(parts, ",")))
end
