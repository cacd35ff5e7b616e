--[[ fail: record a failed run of one job; retry it or move it to the failed set.
  - Needs the lease token; a stale token changes nothing (LEASE_LOST); repeating
    with the same token after it succeeded answers ALREADY_FINISHED.
  - failures + 1. While failures < attempts (and the failure is not final), the job
    retries: delayed by its backoff (computed here) or waiting at once.
  - Otherwise the job is failed with its error text, kept within the queue's
    retention for failed jobs (meta keep_failed_age_ms / keep_failed_count,
    defaults 7 days and 100000; 0 deletes at once). With a queue-wide concurrency
    cap, a final failure leaves a wake-up token (a slot was freed).
KEYS:
  1 meta     hash  {prefix:queue}:meta
  2 wait     list  {prefix:queue}:wait
  3 prio     zset  {prefix:queue}:prio
  4 delayed  zset  {prefix:queue}:delayed
  5 active   zset  {prefix:queue}:active
  6 wake     list  {prefix:queue}:wake
  7 failed   zset  {prefix:queue}:failed (score = finished ms)
ARGV:
  1 now     int ms or ''  clock override (tests only)
  2 id      string        job id
  3 token   string        the run's lease token
  4 error   string        error text (stored on the job)
  5 rand    float 0..1    random draw for backoff jitter
  6 final   '0' | '1'     '1': do not retry (e.g. payload cannot be decoded)
Derived keys: {prefix:queue}:job:<id>.
Returns: {code, state, delay_ms}: code 0 OK | 2 ALREADY_FINISHED | -1 JOB_MISSING |
  -2 LEASE_LOST; state the job's new state ('waiting', 'delayed', 'failed').
Errors: "fail: ..." on malformed arguments (missing id/token/error, rand not a number).
]]
--- @include "includes/codes"
--- @include "includes/now"
--- @include "includes/job_key"
--- @include "includes/push_waiting"
--- @include "includes/retention"
--- @include "includes/backoff"

local now = now_ms(ARGV[1], 'fail')
local id, token, err = ARGV[2], ARGV[3], ARGV[4]
if not id or not token or not err then return redis.error_reply('fail: id, token and error are required') end
if not tonumber(ARGV[5]) then return redis.error_reply('fail: ARGV[5] rand must be a number in [0, 1)') end
local base = queue_base(KEYS[1])
local jk = job_key(base, id)
local f = redis.call('HMGET', jk, 'token', 'state', 'attempts', 'failures', 'backoff', 'priority')
if not f[2] then return {CODES.JOB_MISSING, '', 0} end
if f[1] ~= token then return {CODES.LEASE_LOST, f[2], 0} end
if f[2] ~= 'active' then return {CODES.ALREADY_FINISHED, f[2], 0} end
redis.call('ZREM', KEYS[5], id)
local failures = (tonumber(f[4]) or 0) + 1
if ARGV[6] == '1' or failures >= (tonumber(f[3]) or 1) then
  redis.call('HSET', jk, 'state', 'failed', 'error', err, 'failures', failures, 'finished_ms', now)
  keep_failed(KEYS[1], KEYS[7], base, jk, id, now)
  -- a slot under the queue's concurrency cap was freed: wake a worker waiting for one
  if meta_number(KEYS[1], 'global_concurrency', 0) > 0 then wake_workers(KEYS[6]) end
  return {CODES.OK, 'failed', 0}
end
local delay = backoff_delay(f[5], failures, ARGV[5])
if delay > 0 then
  redis.call('HSET', jk, 'state', 'delayed', 'error', err, 'failures', failures,
    'run_at_ms', now + delay)
  redis.call('ZADD', KEYS[4], now + delay, id)
  wake_workers(KEYS[6]) -- idle workers re-claim and learn when the retry is due
  return {CODES.OK, 'delayed', delay}
end
redis.call('HSET', jk, 'state', 'waiting', 'error', err, 'failures', failures)
push_waiting(KEYS[2], KEYS[3], KEYS[1], id, f[6], false)
wake_workers(KEYS[6])
return {CODES.OK, 'waiting', 0}
