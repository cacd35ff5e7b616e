--[[ claim: lease up to `max` ready jobs to one worker, in one reply.
  - Promotes due delayed jobs to waiting first.
  - Honours pause, the queue's global concurrency cap and its rate limit
    (at most rate_max starts in any rate_period_ms window, decided here, in ms).
  - Order: higher priority first, FIFO among equal priorities.
  - Each job: state active, attempts_made + 1, token = ARGV token, lease deadline in
    the active zset; its start time counts against the rate limit.
  - When the call took `max` jobs and more wait, leaves a wake-up token so another
    idle worker wakes up.
  - Reads the records of the jobs it picks before it removes them from their lists:
    a record this node cannot read (Redis Cluster, the slot half migrated) makes it
    claim nothing, with next_ms 100.
KEYS:
  1 meta     hash  {prefix:queue}:meta
  2 wait     list  {prefix:queue}:wait
  3 prio     zset  {prefix:queue}:prio
  4 delayed  zset  {prefix:queue}:delayed
  5 active   zset  {prefix:queue}:active (score = lease deadline ms)
  6 wake     list  {prefix:queue}:wake
  7 limit    list  {prefix:queue}:limit (start times in the rate window)
ARGV:
  1 now       int ms or ''  clock override (tests only)
  2 max       int           jobs wanted (the worker's free slots; capped at 1000)
  3 token     string        lease token for the claimed jobs (unique per claim call)
  4 lease     int ms        lease length
Derived keys: {prefix:queue}:job:<id>.
Returns: {status, next_ms, then 5 values per job: id, runs, data, attempt, timeout_ms}
  status 0 OK | -3 QUEUE_PAUSED | -4 RATE_LIMITED | -5 CONCURRENCY_LIMITED;
  next_ms: ms after which a new claim may find work (rate window or next delayed
  job), -1 when only an enqueue (wake-up token) can bring work.
Errors: protocol version mismatch; "claim: max and lease must be integers".
]]
--- @include "includes/codes"
--- @include "includes/now"
--- @include "includes/version"
--- @include "includes/job_key"
--- @include "includes/push_waiting"
--- @include "includes/claim_jobs"

local now = now_ms(ARGV[1], 'claim')
local max, lease = tonumber(ARGV[2]), tonumber(ARGV[4])
if not max or not lease then return redis.error_reply('claim: max and lease must be integers') end
local k = {meta = KEYS[1], wait = KEYS[2], prio = KEYS[3], delayed = KEYS[4],
  active = KEYS[5], wake = KEYS[6], limit = KEYS[7]}
local m = redis.call('HMGET', KEYS[1], 'version', 'paused', 'rate_max', 'rate_period_ms',
  'global_concurrency')
return claim_jobs(k, queue_base(KEYS[1]), m, now, max, ARGV[3], lease)
