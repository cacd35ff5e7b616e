--[[ complete: finish a batch of jobs successfully, then optionally claim more.
  - Each job needs its lease token; a stale token changes nothing (LEASE_LOST).
    Repeating a completion with the same token answers ALREADY_FINISHED.
  - A completed job is kept (state, result) within the queue's retention for
    completed jobs (meta keep_completed_age_ms / keep_completed_count, defaults
    600000 ms and 10000; 0 deletes at once); older or excess ones are removed.
  - With a queue-wide concurrency cap, leaves a wake-up token (a slot was freed).
  - Then claims up to `max` jobs exactly like claim (max 0: no claim).
KEYS:
  1 meta       hash  {prefix:queue}:meta
  2 wait       list  {prefix:queue}:wait
  3 prio       zset  {prefix:queue}:prio
  4 delayed    zset  {prefix:queue}:delayed
  5 active     zset  {prefix:queue}:active
  6 wake       list  {prefix:queue}:wake
  7 limit      list  {prefix:queue}:limit
  8 completed  zset  {prefix:queue}:completed (score = finished ms)
ARGV:
  1 now       int ms or ''  clock override (tests only)
  2 max       int           jobs to claim after completing (0 = none)
  3 token     string        lease token for the newly claimed jobs
  4 lease     int ms        lease length for the newly claimed jobs
  then per finished job, 3 values: id, token (its lease token), result (encoded bytes)
Derived keys: {prefix:queue}:job:<id>.
Returns: {codes, claim} where codes has one code per finished job (0 OK,
  2 ALREADY_FINISHED, -1 JOB_MISSING, -2 LEASE_LOST) and claim is claim's reply.
Errors: protocol version mismatch; "complete: ..." on malformed arguments.
]]
--- @include "includes/codes"
--- @include "includes/now"
--- @include "includes/version"
--- @include "includes/job_key"
--- @include "includes/push_waiting"
--- @include "includes/retention"
--- @include "includes/claim_jobs"

local now = now_ms(ARGV[1], 'complete')
local max, lease = tonumber(ARGV[2]), tonumber(ARGV[4])
if not max or not lease or (#ARGV - 4) % 3 ~= 0 then
  return redis.error_reply('complete: max and lease must be integers, then id/token/result triples')
end
local k = {meta = KEYS[1], wait = KEYS[2], prio = KEYS[3], delayed = KEYS[4],
  active = KEYS[5], wake = KEYS[6], limit = KEYS[7]}
local base = queue_base(KEYS[1])
local m = redis.call('HMGET', KEYS[1], 'version', 'paused', 'rate_max', 'rate_period_ms',
  'global_concurrency', 'keep_completed_age_ms', 'keep_completed_count')
if m[1] and m[1] ~= PROTOCOL_VERSION then check_version(k.meta, false) end -- before any write
local keep_age, keep_count = tonumber(m[6]) or 600000, tonumber(m[7]) or 10000
local keep = keep_age ~= 0 and keep_count ~= 0
local codes, ids = {}, {} -- ids: the jobs finished by this call
for o = 5, #ARGV, 3 do
  local id, token = ARGV[o], ARGV[o + 1]
  local jk = job_key(base, id)
  local f = redis.call('HMGET', jk, 'token', 'state')
  if not f[2] then
    codes[#codes + 1] = CODES.JOB_MISSING
  elseif f[1] ~= token then
    codes[#codes + 1] = CODES.LEASE_LOST
  elseif f[2] ~= 'active' then
    codes[#codes + 1] = CODES.ALREADY_FINISHED
  else
    if keep then
      redis.call('HSET', jk, 'state', 'completed', 'result', ARGV[o + 2], 'finished_ms', now)
    else
      redis.call('DEL', jk)
    end
    ids[#ids + 1] = id
    codes[#codes + 1] = CODES.OK
  end
end
local done = #ids
for i = 1, done, 1000 do -- one ZREM and one ZADD per call, not per job
  local last = math.min(i + 999, done)
  redis.call('ZREM', k.active, unpack(ids, i, last))
  if keep then
    local scored = {}
    for j = i, last do scored[#scored + 1], scored[#scored + 2] = now, ids[j] end
    redis.call('ZADD', KEYS[8], unpack(scored))
  end
end
if done > 0 then
  if keep then trim_finished(KEYS[8], base, now, keep_age, keep_count, done) end
  if (tonumber(m[5]) or 0) > 0 then wake_workers(k.wake) end
end
return {codes, claim_jobs(k, base, m, now, max, ARGV[3], lease)}
