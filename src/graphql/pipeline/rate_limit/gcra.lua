-- GCRA on one user's bucket, computed as governor computes it (gcra.rs,
-- test_n_all_and_update), in one atomic step on the Redis server.
--
-- KEYS[1]  the bucket: its theoretical arrival time (TAT), in nanoseconds since the Unix
--          epoch, written as a decimal integer; no key is a full bucket.
-- ARGV[1]  t: nanoseconds per token (1 / rate)
-- ARGV[2]  tau: t * (burst - 1)
-- ARGV[3]  n: tokens to take, 1 <= n <= burst (the caller refuses more)
-- ARGV[4], ARGV[5]  tests only: now, in seconds and microseconds, for Redis's own TIME
--
-- Returns 0 when the tokens were taken, else the nanoseconds until they would be.
--
-- Now is the Redis server's clock (TIME), so that instances whose clocks disagree share one
-- timeline. Lua's numbers are doubles, exact to 2^53: nanoseconds since the epoch (~1.8e18)
-- are not, so times are kept as whole seconds and nanoseconds, and only differences
-- between two times (here at most a burst of periods) are computed in nanoseconds.
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local now = { ARGV[4], ARGV[5] }
if not ARGV[4] then
  now = redis.call('TIME')
end
local now_s = tonumber(now[1])
local now_ns = tonumber(now[2]) * 1000

-- A bucket not written yet, expired, or not a TAT is full: its TAT is now.
local tat_s, tat_ns = now_s, now_ns
local stored = redis.call('GET', KEYS[1])
if stored and #stored > 9 then
  local s, ns = tonumber(string.sub(stored, 1, -10)), tonumber(string.sub(stored, -9))
  if s and ns then
    tat_s, tat_ns = s, ns
  end
end

-- How far the TAT is ahead of now; below zero, the bucket has been full for a while.
local ahead = (tat_s - now_s) * 1e9 + (tat_ns - now_ns)
local additional = t * (n - 1)
-- The earliest time these n tokens may be taken, from now: TAT + t * (n - 1) - tau.
local wait = ahead + additional - tau
if wait > 0 then
  -- At most 31 years: with a rate of zero it could pass the 2^63 of a Redis integer.
  return math.min(wait, 1e18)
end

-- The new TAT: max(TAT, now) + t * n.
if ahead < 0 then
  tat_s, tat_ns, ahead = now_s, now_ns, 0
end
local ns = tat_ns + t + additional
local carry = math.floor(ns / 1e9)
-- Exact unless a token takes more than 2^53 ns (104 days; a rate of zero): then the
-- nanoseconds are rounded, and kept within their second.
local rest = math.max(0, math.min(ns - carry * 1e9, 999999999))
-- The key expires when the bucket is full again (no key is a full bucket). Numbers are
-- formatted with %d: Lua would write a large one as 1.5e+17.
redis.call('SET', KEYS[1], string.format('%d%09d', tat_s + carry, rest),
  'PX', string.format('%d', math.ceil((ahead + t + additional) / 1e6)))
return 0
