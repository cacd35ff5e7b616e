--[[ recover_stalled: hand jobs whose lease expired back to waiting, or fail them.
  - Looks at up to `limit` active jobs whose lease deadline has passed.
  - stalls + 1; the token is cleared so the lost worker can no longer finish it.
  - stalls <= max_stalls: back to the end of waiting (a later run is attempt + 1).
    Otherwise the job fails with a reason naming the stalls (kept within the
    failed retention, as in fail).
  - Leaves a wake-up token when it recovered anything (work, or freed slots).
  - Safe when several workers run it at once (each expired lease is taken once).
  - Counts recovered leases in meta field stalled_total.
KEYS:
  1 meta    hash  {prefix:queue}:meta (max_stalls, default ARGV[3]; keep_failed_*)
  2 wait    list  {prefix:queue}:wait
  3 prio    zset  {prefix:queue}:prio
  4 active  zset  {prefix:queue}:active
  5 failed  zset  {prefix:queue}:failed
  6 wake    list  {prefix:queue}:wake
ARGV:
  1 now         int ms or ''  clock override (tests only)
  2 limit       int           most jobs handled in this call
  3 max_stalls  int           used when meta has no max_stalls
Derived keys: {prefix:queue}:job:<id>.
Returns: {recovered_ids, failed_ids} (two arrays).
Errors: "recover_stalled: ..." on malformed arguments.
]]
--- @include "includes/codes"
--- @include "includes/now"
--- @include "includes/job_key"
--- @include "includes/push_waiting"
--- @include "includes/retention"

local now = now_ms(ARGV[1], 'recover_stalled')
local limit = tonumber(ARGV[2])
if not limit or limit < 1 or not tonumber(ARGV[3]) then
  return redis.error_reply('recover_stalled: limit must be a positive integer, max_stalls an integer')
end
local max_stalls = meta_number(KEYS[1], 'max_stalls', tonumber(ARGV[3]))
local base = queue_base(KEYS[1])
local expired = redis.call('ZRANGE', KEYS[4], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
local recovered, failed = {}, {}
for i = 1, #expired do
  local id = expired[i]
  local jk = job_key(base, id)
  redis.call('ZREM', KEYS[4], id)
  if redis.call('EXISTS', jk) == 1 then
    local stalls = redis.call('HINCRBY', jk, 'stalls', 1)
    redis.call('HDEL', jk, 'token')
    if stalls > max_stalls then
      redis.call('HSET', jk, 'state', 'failed', 'finished_ms', now, 'error',
        'job stalled ' .. stalls .. ' times (lease expired: worker lost or blocked); max_stalls is ' .. max_stalls)
      keep_failed(KEYS[1], KEYS[5], base, jk, id, now)
      failed[#failed + 1] = id
    else
      redis.call('HSET', jk, 'state', 'waiting')
      push_waiting(KEYS[2], KEYS[3], KEYS[1], id, redis.call('HGET', jk, 'priority'), false)
      recovered[#recovered + 1] = id
    end
  end
end
if #expired > 0 then redis.call('HINCRBY', KEYS[1], 'stalled_total', #expired) end
if #expired > 0 then wake_workers(KEYS[6]) end -- work to claim, or a freed slot under a cap
return {recovered, failed}
